"""Left-right mirror images of training tracks (data augmentation).

The body and the garments are left-right symmetric about the rest frame's x = 0 plane, so the
mirror image of a simulated sequence is another valid sequence: the mirrored motion with the
garment's mirrored response. Reflecting with ``S = diag(-1, 1, 1)``:

* bone transforms (rest -> world): ``T'_j = S T_m(j) S``, where ``m`` swaps each left bone with
  its right partner (:func:`bone_mirror_index`); these are proper rigid motions again;
* body vertices: ``S b`` with the triangle winding reversed, so normals still point outwards
  (the vertex order is kept; training only uses the body as a surface);
* garment vertices: the garment's triangulation is not itself symmetric, so garment vertex ``i``
  of the mirrored track is the reflection of the point on the simulated garment surface that
  corresponds to the reflection of vertex ``i``: ``x'_i = S sum_k b_ik x_(c_ik)``, with the
  triangle corners ``c`` and barycentric weights ``b`` found once on the garment as built
  (:func:`garment_mirror_map`).

Mirrored tracks keep their motion name, so a motion held out for validation stays held out
with its mirror image (mirror only the training split).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from drape.types import DrapeError

REFLECT = np.diag([-1.0, 1.0, 1.0])
"""(3, 3): the left-right reflection of the rest frame (x is the body's left-right axis)."""
MIRROR_SUFFIX = "~mirror"
"""Appended to a mirrored track's name."""

__all__ = ["MirrorError", "MirrorMap", "bone_mirror_index", "garment_mirror_map", "mirror_map_for", "mirror_track", "mirror_tracks"]


class MirrorError(DrapeError):
    """A rig, garment or track that cannot be mirrored (no left/right partner, not symmetric)."""


@dataclass(frozen=True)
class MirrorMap:
    """How to mirror one garment on one rig."""

    corners: np.ndarray
    """(V, 3) int64: garment vertices of the triangle holding each vertex's mirror point."""
    bary: np.ndarray
    """(V, 3) float64: barycentric weights of the mirror point in that triangle (rows sum to 1)."""
    bones: np.ndarray
    """(J,) int64: index of each bone's mirror partner (itself for centre bones)."""
    surface_error: np.ndarray
    """(V,) float64 metres: distance from each reflected vertex to the garment surface."""


def _partner_name(name: str) -> str:
    for a, b in (("Left", "Right"), ("Right", "Left")):
        if name.startswith(a):
            return b + name[len(a):]
    if len(name) > 1 and name[0] in "LR" and name[1].isupper():  # LHipJoint, RThumb
        return {"L": "R", "R": "L"}[name[0]] + name[1:]
    for a, b in ((".L", ".R"), (".R", ".L"), ("_L", "_R"), ("_R", "_L"), (".l", ".r"), (".r", ".l"), ("_l", "_r"), ("_r", "_l")):
        if name.endswith(a):
            return name[: -len(a)] + b
    return name


def bone_mirror_index(bone_names) -> np.ndarray:
    """(J,) int64: each bone's left/right partner (``LeftArm`` <-> ``RightArm``, ``LThumb`` <-> ``RThumb``,
    ``arm.L`` <-> ``arm.R``); a bone without a side maps to itself.

    Raises MirrorError when a sided bone's partner is not in the rig.
    """
    names = [str(n) for n in bone_names]
    where = {n: i for i, n in enumerate(names)}
    out = np.empty(len(names), dtype=np.int64)
    for i, n in enumerate(names):
        p = _partner_name(n)
        if p not in where:
            raise MirrorError(f"bone {n!r} has no mirror partner {p!r} in the rig ({len(names)} bones)")
        out[i] = where[p]
    return out


def garment_mirror_map(template_verts: np.ndarray, faces: np.ndarray, bone_names, *, rest_heads: np.ndarray | None = None,
                       tolerance: float = 0.02) -> MirrorMap:
    """The mirror map of a garment (its rest-frame mesh as built) on a rig.

    Args:
        template_verts: (V, 3) metres, rest frame: the garment before draping (symmetric in shape;
            its triangulation need not be).
        faces: (T, 3) int.
        bone_names: the rig's J bone names.
        rest_heads: (J, 3) metres, optional: the rig's rest bone heads, checked for symmetry.
        tolerance: metres; a reflected vertex farther than this from the garment surface, or a
            reflected bone head farther than this from its partner's, means the garment or rig is
            not left-right symmetric (MirrorError).
    """
    from drape.geometry.distance import nearest_on_mesh
    from drape.model.features import _barycentric

    v = np.asarray(template_verts, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise MirrorError(f"template_verts: expected (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or f.min() < 0 or f.max() >= len(v):
        raise MirrorError(f"faces: expected (T, 3) indices into {len(v)} vertices, got shape {f.shape}")
    bones = bone_mirror_index(bone_names)
    if rest_heads is not None:
        h = np.asarray(rest_heads, dtype=np.float64)
        if h.shape != (len(bones), 3):
            raise MirrorError(f"rest_heads: expected ({len(bones)}, 3), got {h.shape}")
        err = np.linalg.norm(h @ REFLECT - h[bones], axis=1)
        if err.max() > tolerance:
            j = int(err.argmax())
            raise MirrorError(f"the rig is not left-right symmetric: bone {bone_names[j]!r} reflected lies "
                              f"{err[j] * 1e3:.1f} mm from its partner's head (tolerance {tolerance * 1e3:.1f} mm)")
    near = nearest_on_mesh(v @ REFLECT, v, f)
    dist = np.abs(near.distance)
    if dist.max() > tolerance:
        i = int(dist.argmax())
        raise MirrorError(f"the garment is not left-right symmetric: vertex {i} reflected lies {dist[i] * 1e3:.1f} mm "
                          f"from the garment surface (tolerance {tolerance * 1e3:.1f} mm)")
    corners = f[near.face]
    bary = _barycentric(near.closest, v[corners])
    return MirrorMap(corners=corners, bary=bary, bones=bones, surface_error=dist)


def mirror_track(track, mirror: MirrorMap):
    """The mirror image of a :class:`drape.data.windows.Track` (same motion name, name + ``~mirror``)."""
    V = len(mirror.corners)
    if track.verts.shape[1] != V:
        raise MirrorError(f"track {track.name}: {track.verts.shape[1]} garment vertices, the mirror map has {V}")
    if track.transforms.shape[1] != len(mirror.bones):
        raise MirrorError(f"track {track.name}: {track.transforms.shape[1]} bones, the mirror map has {len(mirror.bones)}")
    x = track.verts.astype(np.float64)
    surf = np.einsum("fvkc,vk->fvc", x[:, mirror.corners], mirror.bary)
    verts = (surf @ REFLECT).astype(np.float32)
    S4 = np.eye(4)
    S4[:3, :3] = REFLECT
    transforms = (S4 @ track.transforms[:, mirror.bones].astype(np.float64) @ S4).astype(np.float32)
    body_verts = body_faces = None
    if track.body_verts is not None:
        body_verts = (track.body_verts.astype(np.float64) @ REFLECT).astype(np.float32)
    if track.body_faces is not None:
        body_faces = np.ascontiguousarray(np.asarray(track.body_faces)[:, ::-1]).astype(np.int32)
    meta = {**(track.meta or {}), "mirrored": True}
    return replace(track, name=track.name + MIRROR_SUFFIX, verts=verts, transforms=transforms,
                   body_verts=body_verts, body_faces=body_faces, meta=meta)


def mirror_tracks(tracks, mirror: MirrorMap) -> tuple:
    """``tracks`` followed by their mirror images."""
    tracks = tuple(tracks)
    return tracks + tuple(mirror_track(t, mirror) for t in tracks)


def mirror_map_for(data) -> MirrorMap:
    """The :class:`MirrorMap` of a :class:`drape.data.windows.TrainingData` (needs its garment as built)."""
    ref = data.reference
    if getattr(data, "template_verts", None) is None:
        raise MirrorError(f"training data of {ref.name}: no garment template (the garment as built) to find mirror points on; "
                          "mirroring needs data loaded from a dataset folder or simulated sequences")
    return garment_mirror_map(data.template_verts, ref.faces, ref.bone_names, rest_heads=ref.rest_heads)
