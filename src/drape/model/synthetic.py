"""Small synthetic garments, rigs and motions for tests, smoke training and benchmarks (numpy only).

* :func:`prism_garment`: a tube of three flat rectangular panels around a triangular prism,
  with a packed UV atlas (an isometric flattening of each panel, so 3D position is an
  affine function of atlas UV inside each panel) and real seams (seam vertices have two UVs).
* :func:`two_bone_rig`: a root and one child bone, with bone transforms for a given motion.
* :func:`synthetic_sequence`: the prism garment carried rigidly by a moving, turning root while
  its vertices follow a damped oscillation in the root frame. The next frame is a deterministic
  function of the two previous frames and the skeleton, which a model can learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def prism_garment(nx: int = 6, ny: int = 6, *, side: float = 0.3, height: float = 0.4, gap: float = 0.06):
    """A three-panel tube. Returns (verts (V, 3) float32 metres, faces (T, 3) int32, atlas_uv (T, 3, 2) float32).

    nx, ny: grid cells per panel across and along the tube; V = 3 * nx * (ny + 1).
    gap: UV space left around and between panels.
    """
    ang = np.deg2rad([90.0, 210.0, 330.0])
    r = side / np.sqrt(3.0)
    corners = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)  # prism cross-section
    cols = 3 * nx
    verts = np.zeros((cols * (ny + 1), 3))
    scale = (1.0 - 4 * gap) / max(3 * side, height)
    faces, uvs = [], []

    def vid(col, j):
        return (col % cols) * (ny + 1) + j

    for k in range(3):
        a, b = corners[k], corners[(k + 1) % 3]
        ox = gap + k * (side * scale + gap)
        oy = gap
        for i in range(nx + 1):
            for j in range(ny + 1):
                xy = a + (i / nx) * (b - a)
                verts[vid(k * nx + i, j)] = (xy[0], xy[1], height * j / ny)
        for i in range(nx):
            for j in range(ny):
                quad = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
                ids = [vid(k * nx + qi, qj) for qi, qj in quad]
                uv = [(ox + scale * side * qi / nx, oy + scale * height * qj / ny) for qi, qj in quad]
                for tri in ((0, 1, 2), (0, 2, 3)):
                    faces.append([ids[t] for t in tri])
                    uvs.append([uv[t] for t in tri])
    return verts.astype(np.float32), np.asarray(faces, dtype=np.int32), np.asarray(uvs, dtype=np.float32)


def axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from unit axes (..., 3) and angles (...,) in radians."""
    axis = np.asarray(axis, dtype=np.float64)
    angle = np.asarray(angle, dtype=np.float64)
    axis = np.broadcast_to(axis, angle.shape + (3,))
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    c, s = np.cos(angle), np.sin(angle)
    C = 1 - c
    return np.stack(
        [
            np.stack([c + x * x * C, x * y * C - z * s, x * z * C + y * s], -1),
            np.stack([y * x * C + z * s, c + y * y * C, y * z * C - x * s], -1),
            np.stack([z * x * C - y * s, z * y * C + x * s, c + z * z * C], -1),
        ],
        -2,
    )


@dataclass(frozen=True)
class SyntheticRig:
    """A two-bone rig: ``bone_names``, rest heads (J, 3) metres, parents (J,)."""

    bone_names: tuple[str, ...] = ("Hips", "Spine")
    rest_heads: np.ndarray = None  # type: ignore[assignment]
    parents: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self):
        if self.rest_heads is None:
            object.__setattr__(self, "rest_heads", np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.2]], dtype=np.float32))
        if self.parents is None:
            object.__setattr__(self, "parents", np.array([-1, 0]))

    def transforms(self, root_rotation: np.ndarray, root_translation: np.ndarray, child_rotation: np.ndarray) -> np.ndarray:
        """Bone transforms (F, 2, 4, 4) mapping rest points to world.

        root_rotation (F, 3, 3) world rotation of the root relative to rest; root_translation (F, 3)
        world position of the root head; child_rotation (F, 3, 3) the child's rotation relative to the root.
        """
        F = len(root_rotation)
        T = np.zeros((F, 2, 4, 4))
        T[:, :, 3, 3] = 1.0
        h0, h1 = self.rest_heads.astype(np.float64)
        T[:, 0, :3, :3] = root_rotation
        T[:, 0, :3, 3] = root_translation - root_rotation @ h0
        R1 = root_rotation @ child_rotation
        p1 = root_translation + root_rotation @ (h1 - h0)
        T[:, 1, :3, :3] = R1
        T[:, 1, :3, 3] = p1 - R1 @ h1
        return T.astype(np.float32)


def two_bone_rig() -> SyntheticRig:
    return SyntheticRig()


def synthetic_motion(frames: int, *, fps: float = 30.0, seed: int = 0) -> np.ndarray:
    """Bone transforms (F, 2, 4, 4) of a smooth random walk-and-turn motion of the two-bone rig."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    f1, f2, f3 = rng.uniform(0.3, 1.2, 3)
    p1, p2, p3 = rng.uniform(0, 2 * np.pi, 3)
    yaw = 0.8 * np.sin(2 * np.pi * f1 * t + p1)
    root_R = axis_angle_matrix(np.array([0.0, 0.0, 1.0]), yaw)
    root_t = np.stack([0.3 * np.sin(2 * np.pi * f2 * t + p2), 0.2 * t, 1.0 + 0.05 * np.sin(2 * np.pi * f3 * t)], -1)
    bend = axis_angle_matrix(np.array([1.0, 0.0, 0.0]), 0.3 * np.sin(2 * np.pi * f3 * t + p1))
    return two_bone_rig().transforms(root_R, root_t, bend)


def synthetic_sequence(
    rest_verts: np.ndarray, transforms: np.ndarray, *, fps: float = 30.0, damping: float = 0.9, stiffness: float = 0.2,
    inertia: float = 0.5
) -> np.ndarray:
    """World garment vertices (F, V, 3) float32 for a rigid-root garment with damped-oscillating offsets.

    In the root frame the offset o (V, 3) follows
    ``o[f+1] = o[f] + damping * (o[f] - o[f-1]) - stiffness * o[f] - inertia * a_root[f+1] / fps**2``
    where ``a_root`` is the root's acceleration expressed in the target root frame, with the vertex's
    height scaling the response (the bottom swings more). Deterministic given the inputs.
    """
    T = np.asarray(transforms, dtype=np.float64)
    F = len(T)
    R = T[:, 0, :3, :3]
    t = T[:, 0, :3, 3]
    rest = np.asarray(rest_verts, dtype=np.float64)
    z = rest[:, 2]
    swing = (1.0 - (z - z.min()) / max(np.ptp(z), 1e-9))[:, None]  # 1 at the hem, 0 at the top
    o = np.zeros((F, len(rest), 3))
    # root-origin path (world position of the rest-frame origin) and its acceleration
    acc = np.zeros((F, 3))
    acc[1:-1] = (t[2:] - 2 * t[1:-1] + t[:-2]) * fps * fps
    for f in range(1, F - 1):
        a_local = R[f + 1].T @ acc[f]
        o[f + 1] = o[f] + damping * (o[f] - o[f - 1]) - stiffness * o[f] - inertia * swing * a_local / (fps * fps)
    canon = rest[None] + o
    world = np.einsum("fab,fvb->fva", R, canon) + t[:, None]
    return world.astype(np.float32)


def synthetic_reference(nx: int = 10, ny: int = 10, *, offset_space: str = "root"):
    """A :class:`~drape.model.features.GarmentReference` of the prism garment around a thinner prism "body".

    The garment hangs from z = 0.6 m in the rest frame, the body tube is a 0.15 m prism inside it,
    bound entirely to the root of :func:`two_bone_rig`.
    """
    from drape.model.features import build_reference

    rig = two_bone_rig()
    verts, faces, uv = prism_garment(nx, ny)
    verts = verts + np.array([0.0, 0.0, -0.3], dtype=np.float32)
    bverts, bfaces, _ = prism_garment(3, 3, side=0.15, height=0.8)
    bverts = bverts + np.array([0.0, 0.0, -0.5], dtype=np.float32)
    bweights = np.zeros((len(bverts), 2), dtype=np.float32)
    bweights[:, 0] = 1.0
    return build_reference(
        name="prism", kind="custom", faces=faces, atlas_uv=uv, rest_drape=verts, bone_names=rig.bone_names,
        body_rest_verts=bverts, body_faces=bfaces, body_skin_weights=bweights, rest_root=rig.rest_heads[0],
        offset_space=offset_space, rest_heads=rig.rest_heads,
    )
