"""Resampling motions in time and repeating looping motions.

Rotations are interpolated by slerp (per bone, world rotations relative to rest),
root translations linearly.

A *looping* motion of N frames continues after its last frame with frame 0 moved
by a :class:`LoopTransform`: a turn about the vertical through the origin and a
horizontal shift (the distance travelled per cycle). Frame N is then
``transform(frame 0)``; repeating the loop applies the transform again each cycle,
so the root keeps travelling and turning clips keep turning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from drape.motion.rotations import axis_angle_matrix, matrix_from_quat, quat_from_matrix, slerp, twist_angle
from drape.types import DrapeError, Motion

_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class LoopTransform:
    """How one cycle of a looping motion moves the body: frame N = transform(frame 0)."""

    yaw: float = 0.0
    """Radians about +z (drape world frame), turned per cycle."""
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Metres added to the (turned) root translation per cycle; z is 0."""

    def rotation(self, times: int = 1) -> np.ndarray:
        return axis_angle_matrix(_UP, np.float64(self.yaw * times))

    def apply(self, world_rotations: np.ndarray, root_translation: np.ndarray, times: int = 1):
        """Apply the transform ``times`` times: rotations (..., J, 3, 3), roots (..., 3)."""
        Rz = self.rotation()
        rot = np.asarray(world_rotations, dtype=np.float64)
        root = np.asarray(root_translation, dtype=np.float64)
        shift = np.asarray(self.shift, dtype=np.float64)
        for _ in range(times):
            rot = Rz @ rot
            root = root @ Rz.T + shift
        return rot, root

    @classmethod
    def between(cls, first_rot: np.ndarray, first_root: np.ndarray, end_rot: np.ndarray, end_root: np.ndarray):
        """The transform taking frame 0 (root bone rotation (3, 3), root (3,)) to the cycle's end frame."""
        yaw = float(twist_angle(np.asarray(end_rot) @ np.asarray(first_rot).T, _UP))
        Rz = axis_angle_matrix(_UP, np.float64(yaw))
        shift = np.asarray(end_root, dtype=np.float64) - Rz @ np.asarray(first_root, dtype=np.float64)
        return cls(yaw=yaw, shift=(float(shift[0]), float(shift[1]), 0.0))


def estimate_loop_transform(motion: Motion) -> LoopTransform:
    """Estimate a looping motion's per-cycle transform by extrapolating one frame past the end
    (the mean of the first and last steps, for the root's heading and position)."""
    G = motion.world_rotations.astype(np.float64)
    r = motion.root_translation.astype(np.float64)
    F = len(G)
    if F < 3:
        return LoopTransform()
    yaw = np.unwrap(twist_angle(G[:, 0] @ G[0, 0].T, _UP))
    y_end = yaw[-1] + 0.5 * ((yaw[-1] - yaw[-2]) + (yaw[1] - yaw[0]))
    r_end = r[-1] + 0.5 * ((r[-1] - r[-2]) + (r[1] - r[0]))
    Rz = axis_angle_matrix(_UP, np.float64(y_end))
    return LoopTransform.between(G[0, 0], r[0], Rz @ G[0, 0], r_end)


def _interp(G: np.ndarray, root: np.ndarray, times: np.ndarray, t: np.ndarray):
    """Interpolate frames (G (F, J, 3, 3), root (F, 3), increasing times (F,)) at times t (K,)."""
    F = len(times)
    if F == 1:
        return np.repeat(G, len(t), axis=0), np.repeat(root, len(t), axis=0)
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, F - 2)
    a = np.clip((t - times[i]) / (times[i + 1] - times[i]), 0.0, 1.0)
    q = quat_from_matrix(G)  # (F, J, 4)
    qi = slerp(q[i], q[i + 1], a[:, None])
    rot = matrix_from_quat(qi)
    r = root[i] + a[:, None] * (root[i + 1] - root[i])
    return rot, r


def resample_arrays(
    world_rotations: np.ndarray,
    root_translation: np.ndarray,
    times: np.ndarray,
    fps: float,
    *,
    loop_transform: LoopTransform | None = None,
    period: float | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Resample frames at ``times`` (F,) seconds to a uniform ``fps``.

    Without ``loop_transform``: frames at k / fps from times[0] up to times[-1].
    With it (a looping clip whose cycle lasts ``period`` seconds, default the last time plus one median
    step): M = round(period * fps) frames spread evenly over one cycle; the clip time is stretched by
    under half a frame per cycle so the loop stays seamless.
    Returns (rotations (K, J, 3, 3), roots (K, 3), effective fps).
    """
    if not (fps > 0 and math.isfinite(fps)):
        raise DrapeError(f"resample: fps must be a positive number, got {fps}")
    G = np.asarray(world_rotations, dtype=np.float64)
    root = np.asarray(root_translation, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64) - float(times[0])
    F = len(times)
    if F == 0:
        raise DrapeError("resample: the motion has zero frames")
    if F > 1 and not (np.diff(times) > 0).all():
        raise DrapeError("resample: frame times must increase")
    if loop_transform is None:
        last = float(times[-1])
        K = int(math.floor(last * fps + 1e-3)) + 1
        t = np.minimum(np.arange(K) / fps, last)
        rot, r = _interp(G, root, times, t)
        return rot, r, float(fps)
    if period is None:
        period = float(times[-1] + (np.median(np.diff(times)) if F > 1 else 1.0 / fps))
    if not period > times[-1]:
        raise DrapeError(f"resample: loop period {period} s must exceed the last frame time {times[-1]} s")
    M = max(1, int(round(period * fps)))
    end_rot, end_root = loop_transform.apply(G[:1], root[:1])
    G_ext = np.concatenate([G, end_rot], axis=0)
    root_ext = np.concatenate([root, end_root], axis=0)
    times_ext = np.concatenate([times, [period]])
    t = np.arange(M) * (period / M)
    rot, r = _interp(G_ext, root_ext, times_ext, t)
    return rot, r, M / period


def resample(motion: Motion, fps: float, *, loop_transform: LoopTransform | None = None) -> Motion:
    """The motion at ``fps`` frames per second. Looping motions are resampled over whole cycles
    (``loop_transform`` estimated when not given) and keep looping seamlessly."""
    times = np.arange(motion.frame_count) / motion.fps
    if motion.loop:
        lt = loop_transform or estimate_loop_transform(motion)
        rot, root, eff = resample_arrays(
            motion.world_rotations, motion.root_translation, times, fps,
            loop_transform=lt, period=motion.frame_count / motion.fps,
        )  # fmt: skip
        fps_out = float(fps)
    else:
        rot, root, fps_out = resample_arrays(motion.world_rotations, motion.root_translation, times, fps)
    return replace(motion, fps=fps_out, world_rotations=rot.astype(np.float32), root_translation=root.astype(np.float32))


def repeat_loop(motion: Motion, loops: int, *, loop_transform: LoopTransform | None = None) -> Motion:
    """A looping motion played ``loops`` times in a row: rotations repeat (turned by the cycle's yaw
    each time) and the root accumulates the per-cycle displacement."""
    if not (isinstance(loops, (int, np.integer)) and loops >= 1):
        raise DrapeError(f"loops must be a whole number >= 1, got {loops!r}")
    if loops == 1:
        return motion
    if not motion.loop:
        raise DrapeError(f"motion {motion.name} does not loop; it cannot be repeated {loops} times")
    lt = loop_transform or estimate_loop_transform(motion)
    rots = [motion.world_rotations.astype(np.float64)]
    roots = [motion.root_translation.astype(np.float64)]
    for _ in range(loops - 1):
        r, t = lt.apply(rots[-1], roots[-1])
        rots.append(r)
        roots.append(t)
    return replace(
        motion,
        world_rotations=np.concatenate(rots).astype(np.float32),
        root_translation=np.concatenate(roots).astype(np.float32),
    )
