"""A small synthetic :class:`~drape.types.Sequence` for tests, demos and export size benchmarks.

The body swings its arms and legs and walks forward; the "garment" is an open
cylinder around the hips that follows the pelvis and ripples a little every frame,
so it is truly per-frame geometry (not a rigid copy). No physics engine is needed.
"""

from __future__ import annotations

import numpy as np

from drape.types import DrapeError, Sequence


def swing_motion(body, *, frame_count: int = 8, fps: float = 30.0, amplitude_deg: float = 35.0):
    """A walking-like swing on ``body``'s rig.

    Returns ``(world_rotations (F, J, 3, 3) float32, root_translation (F, 3) float32 metres)``:
    legs and arms swing about the x axis in opposite phase (each child bone gets its
    parent's swing so limbs stay rigid), the spine twists a little about z, and the
    root walks forward along -y while bobbing.
    """
    from scipy.spatial.transform import Rotation

    if frame_count < 1:
        raise DrapeError(f"swing_motion: frame_count must be >= 1, got {frame_count}")
    F, J = frame_count, body.bone_count
    t = np.arange(F) / fps
    phase = 2 * np.pi * 1.0 * t  # one stride per second
    rot = np.tile(np.eye(3), (F, J, 1, 1))

    def chain(root_name: str) -> list[int]:
        root = body.bone_index(root_name)
        out = [root]
        for c in range(J):
            p = c
            while p >= 0:
                p = int(body.bone_parents[p])
                if p == root:
                    out.append(c)
                    break
        return out

    def swing(names_sign: list[tuple[str, float]], axis: str, scale: float):
        for name, sign in names_sign:
            angles = sign * scale * np.sin(phase)
            mats = Rotation.from_euler(axis, angles[:, None], degrees=True).as_matrix()
            for c in chain(name):
                rot[:, c] = mats @ rot[:, c]

    swing([("LeftUpLeg", 1.0), ("RightUpLeg", -1.0)], "x", amplitude_deg)
    swing([("LeftArm", -1.0), ("RightArm", 1.0)], "x", amplitude_deg)
    swing([("Spine", 1.0)], "z", amplitude_deg / 4)
    root = np.tile(body.rest_root.astype(np.float64), (F, 1))
    root[:, 1] -= 1.2 * t  # walk forward (-y) at 1.2 m/s
    root[:, 2] += 0.02 * np.cos(2 * phase)
    return rot.astype(np.float32), root.astype(np.float32)


def hip_cylinder(body, *, rings: int = 10, segments: int = 48, radius: float = 0.19, height: float = 0.3):
    """An open cylinder around ``body``'s hips in the rest frame.

    Returns ``(verts (rings*segments, 3) float32 metres, faces (2*(rings-1)*segments, 3) int32,
    uv (V, 2) float32 in [0, 1])``; faces are counter-clockwise seen from outside.
    """
    if rings < 2 or segments < 3:
        raise DrapeError(f"hip_cylinder: need rings >= 2 and segments >= 3, got {rings}, {segments}")
    centre = body.rest_root.astype(np.float64)
    ang = 2 * np.pi * np.arange(segments) / segments
    z = centre[2] + np.linspace(height * 0.4, -height * 0.6, rings)
    verts = np.empty((rings, segments, 3))
    verts[..., 0] = centre[0] + radius * np.cos(ang)[None]
    verts[..., 1] = centre[1] + radius * 0.8 * np.sin(ang)[None]
    verts[..., 2] = z[:, None]
    idx = np.arange(rings * segments).reshape(rings, segments)
    a, b = idx[:-1], np.roll(idx[:-1], -1, axis=1)  # ring r, next around
    c, d = idx[1:], np.roll(idx[1:], -1, axis=1)  # ring r+1 (lower)
    faces = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    uv = np.stack(np.meshgrid(np.arange(segments) / segments, 1 - np.arange(rings) / (rings - 1)), -1)
    return verts.reshape(-1, 3).astype(np.float32), faces.astype(np.int32), uv.reshape(-1, 2).astype(np.float32)


def synthetic_sequence(
    body,
    *,
    frame_count: int = 8,
    fps: float = 30.0,
    garment_rings: int = 10,
    garment_segments: int = 48,
) -> Sequence:
    """Pose ``body`` on :func:`swing_motion` and move a :func:`hip_cylinder` with the pelvis.

    The garment is rigidly carried by the Hips bone transform plus a per-frame radial
    ripple of up to 1.5 cm. ``meta`` has ``garment_uv`` ((Vg, 2) float32, per vertex).
    """
    rot, root = swing_motion(body, frame_count=frame_count, fps=fps)
    posed = body.pose(rot, root)
    rest, faces, uv = hip_cylinder(body, rings=garment_rings, segments=garment_segments)
    T = posed.skeleton.bone_transforms[:, 0].astype(np.float64)  # (F, 4, 4) Hips
    centre = body.rest_root.astype(np.float64)
    radial = rest.astype(np.float64) - centre
    radial[:, 2] = 0.0
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    ang = np.arctan2(rest[:, 1] - centre[1], rest[:, 0] - centre[0])
    t = np.arange(frame_count) / fps
    ripple = 0.015 * np.sin(3 * ang[None] + 2 * np.pi * 1.5 * t[:, None]) * (centre[2] + 0.12 - rest[None, :, 2]) / 0.3
    local = rest[None].astype(np.float64) + ripple[..., None] * radial[None]
    garment = np.einsum("fab,fvb->fva", T[:, :3, :3], local) + T[:, None, :3, 3]
    vel = np.gradient(garment, 1.0 / fps, axis=0) if frame_count > 1 else np.zeros_like(garment)
    return Sequence(
        fps=float(fps),
        body_verts=posed.verts,
        body_faces=posed.faces,
        garment_verts=garment.astype(np.float32),
        garment_velocities=vel.astype(np.float32),
        garment_faces=faces,
        world_rotations=rot,
        root_translation=posed.root_translation,
        meta={"garment": "hip_cylinder", "motion": "swing", "garment_uv": uv},
    )
