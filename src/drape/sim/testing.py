"""Small synthetic inputs for exercising the simulator: a tube skirt and a leg-swing motion.

They depend only on the body model, so the simulator can be tested (and the
``drape simulate --garment tube`` fast setting run) without the garment and
motion libraries.
"""

from __future__ import annotations

import numpy as np

from drape.types import Garment, Motion


def _ring_extent(body_verts: np.ndarray, z: float, *, band: float = 0.03, x_limit: float = 0.26):
    """Centre (x, y) and half extents (a, b) of the torso/legs cross-section near height z."""
    v = body_verts
    m = (np.abs(v[:, 2] - z) < band) & (np.abs(v[:, 0]) < x_limit)
    pts = v[m]
    cx = 0.5 * (pts[:, 0].max() + pts[:, 0].min())
    cy = 0.5 * (pts[:, 1].max() + pts[:, 1].min())
    return cx, cy, 0.5 * np.ptp(pts[:, 0]), 0.5 * np.ptp(pts[:, 1])


def _ellipse_ring(cx: float, cy: float, a: float, b: float, z: float, n: int) -> tuple[np.ndarray, float]:
    """n points evenly spaced by arc length on an ellipse (starting at the back, +y); returns (points, perimeter)."""
    t = np.pi / 2 + np.linspace(0.0, 2 * np.pi, 4096 + 1)
    dense = np.stack([cx + a * np.cos(t), cy + b * np.sin(t)], axis=1)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    target = s[-1] * np.arange(n) / n
    x = np.interp(target, s, dense[:, 0])
    y = np.interp(target, s, dense[:, 1])
    return np.stack([x, y, np.full(n, z)], axis=1), float(s[-1])


def make_tube_garment(
    body,
    *,
    around: int = 32,
    rows: int = 12,
    top: float | None = None,
    length: float = 0.4,
    clearance: float = 0.025,
    name: str = "tube",
) -> Garment:
    """A tube skirt: one flat rectangular pattern piece wrapped around the hips, welded along a back seam.

    Every ring is the same ellipse (the widest torso/thigh cross-section between
    the waist and the hem plus ``clearance``), so the 3D placement is exactly
    the pattern rolled up (no initial strain).

    Args:
        body: a ``drape.body.Body`` (rest frame).
        around: vertices around the waist; rows: vertex rows from waist to hem.
        top: waistband height (metres, rest frame); default 0.05 m above the hip joint.
        length: metres from waistband to hem; clearance: gap to the body's widest section.

    Returns:
        Garment with ``around * rows`` vertices and the top ring pinned.
    """
    verts_body = np.asarray(body.rest_verts, dtype=np.float64)
    if top is None:
        top = float(body.rest_root[2]) + 0.05
    heights = top - np.linspace(0.0, length, rows)
    cx, cy, a, b = _ring_extent(verts_body, top)
    for z in heights:
        _, _, ai, bi = _ring_extent(verts_body, z)
        a, b = max(a, ai), max(b, bi)
    rings, perimeter = [], 0.0
    for z in heights:
        ring, perimeter = _ellipse_ring(cx, cy, a + clearance, b + clearance, z, around)
        rings.append(ring)
    verts = np.concatenate(rings).astype(np.float32)
    du = perimeter / around
    dv = length / max(rows - 1, 1)

    faces, uv = [], []
    for r in range(rows - 1):
        for k in range(around):
            k1 = (k + 1) % around
            i00, i01 = r * around + k, r * around + k1
            i10, i11 = (r + 1) * around + k, (r + 1) * around + k1
            # Pattern coordinates (x along the waist, y up); the seam column ends at u = perimeter.
            p00, p01 = (k * du, -r * dv), ((k + 1) * du, -r * dv)
            p10, p11 = (k * du, -(r + 1) * dv), ((k + 1) * du, -(r + 1) * dv)
            faces += [(i00, i10, i11), (i00, i11, i01)]
            uv += [(p00, p10, p11), (p00, p11, p01)]
    faces = np.asarray(faces, dtype=np.int32)
    # Outward normals: flip the winding if needed.
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    c = tri.mean(1)
    if np.mean(np.einsum("ij,ij->i", n[:, :2], c[:, :2] - np.array([cx, cy]))) < 0:
        faces = faces[:, ::-1].copy()
        uv = [tuple(reversed(t)) for t in uv]
    panel_uv = np.asarray(uv, dtype=np.float32)
    atlas = panel_uv - panel_uv.reshape(-1, 2).min(0)
    atlas = atlas / max(float(atlas.max()), 1e-9)
    return Garment(
        name=name,
        verts=verts,
        faces=faces,
        panel_uv=panel_uv,
        atlas_uv=atlas.astype(np.float32),
        pinned=np.arange(around, dtype=np.int32),
        kind="skirt",
        meta={"source": "drape.sim.testing.make_tube_garment"},
    )


def _descendants(parents: np.ndarray, root: int) -> list[int]:
    out = [root]
    for j in range(len(parents)):
        p = parents[j]
        while p >= 0:
            if p == root:
                out.append(j)
                break
            p = parents[p]
    return sorted(set(out))


def make_swing_motion(
    body,
    *,
    frames: int = 30,
    fps: float = 30.0,
    amplitude_deg: float = 30.0,
    period_s: float = 1.0,
    name: str = "swing",
) -> Motion:
    """Legs swinging forward and back in opposition about the hips (x axis), body standing in place."""
    from scipy.spatial.transform import Rotation

    J = body.bone_count
    t = np.arange(frames) / fps
    angle = np.deg2rad(amplitude_deg) * np.sin(2 * np.pi * t / period_s)
    rot = np.tile(np.eye(3, dtype=np.float32), (frames, J, 1, 1))
    for side, sign in (("LeftUpLeg", 1.0), ("RightUpLeg", -1.0)):
        # Rotating about -x swings the foot to -y (forward).
        R = Rotation.from_rotvec(np.outer(-sign * angle, [1.0, 0.0, 0.0])).as_matrix().astype(np.float32)
        for j in _descendants(body.bone_parents, body.bone_index(side)):
            rot[:, j] = R
    root = np.tile(body.rest_root.astype(np.float32), (frames, 1))
    return Motion(name=name, fps=float(fps), bone_names=tuple(body.bone_names), world_rotations=rot,
                  root_translation=root, loop=False, source="drape.sim.testing.make_swing_motion")
