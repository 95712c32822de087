"""A source skeleton motion (BVH, DeepMimic, ...) before retargeting.

Everything here is in the source's own frame and length unit. Each joint's
rotation is *relative to the source rest pose* (the pose with every local
rotation the identity), which is how both BVH and DeepMimic define their rests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from drape.motion.bvh import BVH, forward_kinematics
from drape.motion.rotations import matrix_from_rotvec, rotvec_from_matrix, twist_angle
from drape.types import DrapeError


@dataclass(frozen=True)
class SourceMotion:
    """A skeleton motion in its source frame."""

    name: str
    """Clip name, used in messages."""
    joint_names: tuple[str, ...]
    """(J,) joint names, parents before children."""
    parents: np.ndarray
    """(J,) int64 parent index, -1 for the root (joint 0)."""
    offsets: np.ndarray
    """(J, 3) float64 source units: rest translation of each joint from its parent (root: 0)."""
    local_rotations: np.ndarray
    """(F, J, 3, 3) float64: rotation of each joint relative to its parent, source frame (rest = identity)."""
    root_positions: np.ndarray
    """(F, 3) float64 source units: world position of joint 0."""
    times: np.ndarray
    """(F,) float64 seconds, increasing, times[0] = 0."""
    leaf_tips: tuple[tuple[int, tuple[float, float, float]], ...] = ()
    """(joint, offset) for the tip of joints with no child joint (BVH End Sites), source units."""
    axes: np.ndarray | None = None
    """(3, 3) rotation from the source frame to drape's (z-up, facing -y, left +x); None: detect from the rest pose."""
    loop: bool = False
    """True when the clip is a cycle whose last frame is the first frame of the next cycle."""
    source: str = ""
    """Where it came from."""
    preset: str | None = None
    """Joint naming preset this source is known to use (None: detect from the names)."""
    flat_floor: bool = False
    """True when the source's floor is known to be level (simulated clips); mocap floors may tilt."""

    @property
    def frame_count(self) -> int:
        return int(self.local_rotations.shape[0])

    @property
    def joint_count(self) -> int:
        return len(self.joint_names)

    def joint_index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise DrapeError(f"{self.name}: no joint named {name!r}") from None

    def rest_positions(self) -> np.ndarray:
        """(J, 3) float64 source units, root at the origin."""
        pos = np.zeros((self.joint_count, 3))
        for j, p in enumerate(self.parents):
            if p >= 0:
                pos[j] = pos[p] + self.offsets[j]
        return pos

    def leaf_tip(self, joint: int) -> np.ndarray | None:
        for j, off in self.leaf_tips:
            if j == joint:
                return np.asarray(off, dtype=np.float64)
        return None

    def world(self) -> tuple[np.ndarray, np.ndarray]:
        """World joint positions (F, J, 3) source units and world rotations (F, J, 3, 3) relative to rest."""
        trans = np.broadcast_to(self.offsets, (self.frame_count, self.joint_count, 3)).copy()
        trans[:, 0] = self.root_positions
        return forward_kinematics(self.parents, self.local_rotations, trans)


def source_from_bvh(bvh: BVH, *, source: str = "") -> SourceMotion:
    """A BVH's motion as a SourceMotion (non-root position channels are ignored: bones keep their OFFSET)."""
    local_t = bvh.local_translations()
    return SourceMotion(
        name=bvh.name,
        joint_names=bvh.joint_names,
        parents=bvh.parents,
        offsets=bvh.offsets * (bvh.parents >= 0)[:, None],
        local_rotations=bvh.local_rotations(),
        root_positions=local_t[:, 0],
        times=np.arange(bvh.frame_count) * bvh.frame_time,
        leaf_tips=tuple(
            (j, off) for j, off in bvh.end_sites if not np.any(bvh.parents == j)
        ),
        source=source or bvh.name,
    )


def source_up(axes: np.ndarray) -> np.ndarray:
    """(3,) the source frame's up direction for a source->drape rotation ``axes``."""
    return axes.T @ np.array([0.0, 0.0, 1.0])


def close_loop_source(src: SourceMotion, up: np.ndarray, *, min_turn_deg: float = 12.0) -> SourceMotion:
    """Make a cyclic clip seamless: the last frame becomes exactly the first frame moved by the per-cycle
    turn (about ``up``) and horizontal displacement, and the mismatch is spread linearly over the clip
    in every joint's local rotation (and the root's height), so the motion keeps its velocity at the seam.

    The per-cycle turn is the root's heading change from the first to the last frame; a change under
    ``min_turn_deg`` is taken as capture noise (the built-in walk ends 7 degrees off its start heading
    while travelling straight) and removed, so straight clips stay straight however often they repeat.
    """
    F = src.frame_count
    if F < 3:
        raise DrapeError(f"{src.name}: a looping clip needs at least 3 frames, got {F}")
    up = np.asarray(up, dtype=np.float64)
    up = up / np.linalg.norm(up)
    L = src.local_rotations
    R0, RN = L[0, 0], L[-1, 0]
    psi = float(twist_angle(RN @ R0.T, up))
    if abs(np.degrees(psi)) < min_turn_deg:
        psi = 0.0
    turn = matrix_from_rotvec(psi * up)
    target = L[0].copy()
    target[0] = turn @ R0
    # Mismatch per joint, in the joint's own frame: L_N @ D = target.
    D = np.einsum("jba,jbc->jac", L[-1], target)
    d = rotvec_from_matrix(D)  # (J, 3)
    s = (src.times - src.times[0]) / (src.times[-1] - src.times[0])
    corr = matrix_from_rotvec(s[:, None, None] * d[None])  # (F, J, 3, 3)
    L2 = L @ corr
    root = src.root_positions.copy()
    rise = float((root[0] - root[-1]) @ up)
    root += s[:, None] * rise * up
    return replace(src, local_rotations=L2, root_positions=root)
