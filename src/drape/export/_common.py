"""Helpers shared by the exporters: input checks, normals, UV unwelding, metadata."""

from __future__ import annotations

import json

import numpy as np

from drape.types import DrapeError, Sequence

Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""(3, 3) rotation taking drape's z-up world (x, y, z) to a y-up world (x, z, -y).

drape's body faces -y, so after this it faces +z: the glTF "front"."""


def check_sequence(seq: Sequence, where: str) -> tuple[int, int, int]:
    """Validate the arrays an exporter reads; returns (frames F, body verts Vb, garment verts Vg)."""
    bv = np.asarray(seq.body_verts)
    gv = np.asarray(seq.garment_verts)
    if bv.ndim != 3 or bv.shape[2] != 3:
        raise DrapeError(f"{where}: body_verts: expected (F, Vb, 3), got {bv.shape}")
    if gv.ndim != 3 or gv.shape[2] != 3:
        raise DrapeError(f"{where}: garment_verts: expected (F, Vg, 3), got {gv.shape}")
    if bv.shape[0] != gv.shape[0]:
        raise DrapeError(f"{where}: body has {bv.shape[0]} frames but garment has {gv.shape[0]}")
    if bv.shape[0] == 0:
        raise DrapeError(f"{where}: the sequence has zero frames")
    for name, faces, n in (("body_faces", seq.body_faces, bv.shape[1]), ("garment_faces", seq.garment_faces, gv.shape[1])):
        f = np.asarray(faces)
        if f.ndim != 2 or f.shape[1] != 3:
            raise DrapeError(f"{where}: {name}: expected (T, 3), got {f.shape}")
        if f.size and (f.min() < 0 or f.max() >= n):
            raise DrapeError(f"{where}: {name}: indices must lie in [0, {n}), got [{f.min()}, {f.max()}]")
    if not (seq.fps > 0 and np.isfinite(seq.fps)):
        raise DrapeError(f"{where}: fps must be positive, got {seq.fps}")
    if not (np.isfinite(bv).all() and np.isfinite(gv).all()):
        raise DrapeError(f"{where}: the sequence contains NaN or infinite vertex positions")
    return bv.shape[0], bv.shape[1], gv.shape[1]


def frame_indices(frame_count: int, every: int, where: str) -> np.ndarray:
    """(K,) int64 frames 0, every, 2*every, ... below ``frame_count``."""
    if not (isinstance(every, (int, np.integer)) and every >= 1):
        raise DrapeError(f"{where}: every must be an integer >= 1, got {every!r}")
    return np.arange(0, frame_count, int(every))


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals.

    verts: (..., V, 3) float, faces: (T, 3) int -> (..., V, 3) float32. Vertices in no
    face (or only in degenerate ones) get (0, 0, 1).
    """
    from scipy.sparse import csr_matrix

    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    lead = v.shape[:-2]
    V = v.shape[-2]
    vv = v.reshape(-1, V, 3)
    fn = np.cross(vv[:, f[:, 1]] - vv[:, f[:, 0]], vv[:, f[:, 2]] - vv[:, f[:, 0]])  # (B, T, 3), |.| = 2 area
    T = len(f)
    inc = csr_matrix((np.ones(3 * T), (f.reshape(-1), np.repeat(np.arange(T), 3))), shape=(V, T))
    n = (inc @ fn.transpose(1, 0, 2).reshape(T, -1)).reshape(V, -1, 3).transpose(1, 0, 2)
    length = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.where(length > 1e-20, n / np.maximum(length, 1e-30), np.array([0.0, 0.0, 1.0]))
    return n.reshape(*lead, V, 3).astype(np.float32)


def garment_uv_layout(garment_uv, faces: np.ndarray, vert_count: int, where: str):
    """Turn per-vertex or per-corner UVs into a per-vertex layout.

    garment_uv: None, (Vg, 2) per vertex, or (Tg, 3, 2) per triangle corner (as
    :attr:`drape.types.Garment.atlas_uv`). Per-corner UVs are unwelded along seams.
    Returns ``(src (N,) int64 indices into the garment's vertices, uv (N, 2) float32 or None,
    faces (Tg, 3) int64 into the N output vertices)``.
    """
    faces = np.asarray(faces, dtype=np.int64)
    if garment_uv is None:
        return np.arange(vert_count), None, faces
    uv = np.asarray(garment_uv, dtype=np.float64)
    if uv.shape == (vert_count, 2):
        return np.arange(vert_count), uv.astype(np.float32), faces
    if uv.shape == (len(faces), 3, 2):
        key = np.column_stack([faces.reshape(-1).astype(np.float64), uv.reshape(-1, 2)])
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        return uniq[:, 0].astype(np.int64), uniq[:, 1:].astype(np.float32), inverse.reshape(-1, 3).astype(np.int64)
    raise DrapeError(
        f"{where}: garment_uv: expected ({vert_count}, 2) per vertex or ({len(faces)}, 3, 2) per corner, got {uv.shape}"
    )


def json_safe(value):
    """A JSON-serialisable copy of ``value`` (numpy scalars become numbers, arrays and other objects are summarised)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, np.ndarray):
        return f"<array {value.dtype} {list(value.shape)}>" if value.size > 16 else json_safe(value.tolist())
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)
