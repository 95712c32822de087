"""The autoregressive loop (DESIGN §1 step 8): slide the window over a skeleton sequence."""

from __future__ import annotations

from collections.abc import Callable, Sequence as Seq

import numpy as np

from drape.types import DrapeError, GarmentState, SkeletonState


def _window(skeleton: SkeletonState, T: np.ndarray, f: int, n: int) -> SkeletonState:
    """The skeleton of history frames f-n .. f-1 and target frame f."""
    return SkeletonState(
        joint_positions=skeleton.joint_positions[f - n : f + 1],
        joint_rotations=skeleton.joint_rotations[f - n : f + 1],
        bone_transforms=T[f - n : f + 1],
    )


def rollout(model, init_states: Seq[GarmentState], skeleton: SkeletonState, *, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Garment vertices for every frame of ``skeleton``: (F, V, 3) float32 metres, world frame.

    model: a :class:`drape.model.dynamics.GarmentDynamicsModel` (anything with ``config.window`` and
    ``step(history, skeleton)``). init_states: the first ``window + 1`` garment states (frames 0..i,
    usually from the physics engine); they are copied to the output unchanged. skeleton: bone
    transforms of all F frames (``bone_transforms`` (F, J, 4, 4); the other fields are not read).
    progress: optional callback ``progress(frame, frame_count)`` after each predicted frame.
    Deterministic: the same inputs give bit-identical outputs.
    """
    n = int(model.config.window) + 1
    T = np.asarray(skeleton.bone_transforms)
    F = T.shape[0]
    if len(init_states) != n:
        raise DrapeError(f"rollout: expected {n} initial garment states for window {n - 1}, got {len(init_states)}")
    if F < n:
        raise DrapeError(f"rollout: skeleton has {F} frames, fewer than the {n} initial states")
    V = np.asarray(init_states[0].verts).shape[0]
    out = np.empty((F, V, 3), dtype=np.float32)
    history = list(init_states)
    for f, s in enumerate(init_states):
        out[f] = s.verts
    for f in range(n, F):
        state = model.step(tuple(history), _window(skeleton, T, f, n))
        out[f] = state.verts
        history = history[1:] + [state]
        if progress is not None:
            progress(f, F)
    return out


def warm_up(model, init_states: Seq[GarmentState], skeleton: SkeletonState, steps: int) -> None:
    """An untimed :func:`rollout` over the first ``steps`` predicted frames of ``skeleton`` (output dropped):
    lazy initialisation and first-call allocations happen here, not in a timed rollout that follows."""
    w = min(np.asarray(skeleton.bone_transforms).shape[0], len(init_states) + int(steps))
    rollout(model, init_states, SkeletonState(skeleton.joint_positions[:w], skeleton.joint_rotations[:w],
                                              skeleton.bone_transforms[:w]))


def teacher_forced(model, states: np.ndarray, skeleton: SkeletonState) -> np.ndarray:
    """One-step predictions from ground-truth history: (F - i - 1, V, 3) float32 metres, frames i+1 .. F-1.

    Frame f is predicted from the given ``states`` (F, V, 3) world metres of frames f-i-1 .. f-1
    (never from the model's own output), so its error is the model's single-step error; a rollout
    compounds it. skeleton: as for :func:`rollout`.
    """
    n = int(model.config.window) + 1
    X = np.asarray(states, dtype=np.float32)
    T = np.asarray(skeleton.bone_transforms)
    if X.ndim != 3 or X.shape[0] != T.shape[0] or X.shape[0] <= n:
        raise DrapeError(f"teacher_forced: expected states (F, V, 3) with F = {T.shape[0]} skeleton frames > {n}, got {X.shape}")
    out = np.empty((X.shape[0] - n,) + X.shape[1:], dtype=np.float32)
    for f in range(n, X.shape[0]):
        history = tuple(GarmentState(X[g], np.zeros_like(X[g])) for g in range(f - n, f))
        out[f - n] = model.step(history, _window(skeleton, T, f, n)).verts
    return out


def rollout_from_truth(model, verts: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """:func:`rollout` started from the first ``window + 1`` frames of ``verts`` (F', V, 3) world metres,
    over bone ``transforms`` (F, J, 4, 4). Returns (F, V, 3) float32 metres (the start frames copied)."""
    n = int(model.config.window) + 1
    T = np.asarray(transforms, dtype=np.float32)
    X = np.asarray(verts[:n], dtype=np.float32)
    init = [GarmentState(X[f], np.zeros_like(X[f])) for f in range(n)]
    return rollout(model, init, SkeletonState(np.zeros(T.shape[:2] + (3,), np.float32), T[:, :, :3, :3], T))
