"""Basic triangle-mesh maths: edges, lengths, normals, areas, pattern strain.

Every function is a pure numpy function. Functions taking ``verts`` accept one
mesh ``(V, 3)`` or a batch of frames ``(F, V, 3)`` (any leading dimensions) and
return matching leading dimensions.
"""

from __future__ import annotations

import numpy as np

from drape.types import DrapeError

__all__ = [
    "unique_edges",
    "face_edge_ids",
    "edge_lengths",
    "face_normals",
    "face_areas",
    "vertex_normals",
    "pattern_rest_lengths",
    "stretch_ratios",
]


def _check_faces(faces: np.ndarray, *, name: str = "faces") -> np.ndarray:
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3:
        raise DrapeError(f"{name}: expected shape (T, 3), got {f.shape}")
    if f.size and not np.issubdtype(f.dtype, np.integer):
        raise DrapeError(f"{name}: expected integer vertex indices, got dtype {f.dtype}")
    return f.astype(np.int64, copy=False)


def _check_verts(verts: np.ndarray, *, name: str = "verts") -> np.ndarray:
    v = np.asarray(verts)
    if v.ndim < 2 or v.shape[-1] != 3:
        raise DrapeError(f"{name}: expected shape (..., V, 3), got {v.shape}")
    return v


def face_edge_ids(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique undirected edges and, per face corner, the id of the edge it starts.

    Args:
        faces: (T, 3) int vertex indices.

    Returns:
        edges: (E, 2) int32, each row sorted (low, high), rows sorted lexicographically.
        edge_of_face: (T, 3) int64; ``edge_of_face[t, k]`` is the edge between
            corners ``k`` and ``(k + 1) % 3`` of face ``t``.
    """
    f = _check_faces(faces)
    T = len(f)
    if T == 0:
        return np.zeros((0, 2), np.int32), np.zeros((0, 3), np.int64)
    directed = np.stack([f, np.roll(f, -1, axis=1)], axis=-1).reshape(-1, 2)  # (3T, 2): (0,1), (1,2), (2,0)
    lo_hi = np.sort(directed, axis=1)
    n = int(f.max()) + 1
    key = lo_hi[:, 0] * n + lo_hi[:, 1]
    ukey, inverse = np.unique(key, return_inverse=True)
    edges = np.stack([ukey // n, ukey % n], axis=1).astype(np.int32)
    return edges, inverse.reshape(T, 3).astype(np.int64)


def unique_edges(faces: np.ndarray) -> np.ndarray:
    """(E, 2) int32 unique undirected edges of a triangle mesh, rows (low, high), sorted."""
    return face_edge_ids(faces)[0]


def edge_lengths(verts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Edge lengths.

    Args:
        verts: (..., V, 3) float, metres.
        edges: (E, 2) int vertex indices.

    Returns:
        (..., E) float, metres (dtype of ``verts``, at least float32).
    """
    v = _check_verts(verts)
    e = np.asarray(edges)
    if e.ndim != 2 or e.shape[1] != 2:
        raise DrapeError(f"edges: expected shape (E, 2), got {e.shape}")
    d = v[..., e[:, 1], :] - v[..., e[:, 0], :]
    return np.sqrt(np.einsum("...i,...i->...", d, d))


def _face_cross(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    v = _check_verts(verts)
    f = _check_faces(faces)
    a = v[..., f[:, 0], :]
    return np.cross(v[..., f[:, 1], :] - a, v[..., f[:, 2], :] - a)


def face_normals(verts: np.ndarray, faces: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """Face normals (right-hand rule over the corner order; CCW seen from outside points out).

    Args:
        verts: (..., V, 3) float.
        faces: (T, 3) int.
        normalize: unit length (degenerate faces give zero vectors); if False the
            length is twice the face area.

    Returns:
        (..., T, 3) float.
    """
    n = _face_cross(verts, faces)
    if not normalize:
        return n
    length = np.linalg.norm(n, axis=-1, keepdims=True)
    return np.divide(n, length, out=np.zeros_like(n), where=length > 0)


def face_areas(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(..., T) float face areas, square metres."""
    return 0.5 * np.linalg.norm(_face_cross(verts, faces), axis=-1)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals, (..., V, 3); isolated vertices get zero vectors."""
    v = _check_verts(verts)
    f = _check_faces(faces)
    n = _face_cross(v, f)  # (..., T, 3), length = 2 * area
    lead = v.shape[:-2]
    V, T = v.shape[-2], len(f)
    from scipy.sparse import csr_matrix

    incidence = csr_matrix((np.ones(3 * T), (f.T.ravel(), np.tile(np.arange(T), 3))), shape=(V, T))
    flat = np.moveaxis(n.reshape(-1, T, 3), 1, 0).reshape(T, -1)  # (T, B*3)
    out = np.asarray(incidence @ flat).reshape(V, -1, 3)
    out = np.moveaxis(out, 1, 0).reshape(*lead, V, 3).astype(np.result_type(v.dtype, np.float32), copy=False)
    length = np.linalg.norm(out, axis=-1, keepdims=True)
    return np.divide(out, length, out=np.zeros_like(out), where=length > 0)


def pattern_rest_lengths(faces: np.ndarray, panel_uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest length of every unique edge from the 2D sewing pattern.

    A triangle edge's rest length is the distance between its two corners in the
    pattern. An edge welded across a seam (or shared by two triangles of one
    panel) appears in two triangles; its rest length is their mean.

    Args:
        faces: (T, 3) int, welded mesh.
        panel_uv: (T, 3, 2) float, metres: each triangle corner's pattern coordinates.

    Returns:
        edges: (E, 2) int32 as :func:`unique_edges`.
        rest: (E,) float64 metres.
    """
    f = _check_faces(faces)
    uv = np.asarray(panel_uv, dtype=np.float64)
    if uv.shape != (len(f), 3, 2):
        raise DrapeError(f"panel_uv: expected shape ({len(f)}, 3, 2) to match faces, got {uv.shape}")
    edges, edge_of_face = face_edge_ids(f)
    corner_len = np.linalg.norm(np.roll(uv, -1, axis=1) - uv, axis=-1)  # (T, 3): edge k = corner k -> k+1
    total = np.bincount(edge_of_face.ravel(), weights=corner_len.ravel(), minlength=len(edges))
    count = np.bincount(edge_of_face.ravel(), minlength=len(edges))
    return edges, total / np.maximum(count, 1)


def stretch_ratios(verts: np.ndarray, faces: np.ndarray, panel_uv: np.ndarray) -> np.ndarray:
    """Edge length over its sewing-pattern rest length, per unique edge.

    1.0 is unstretched, > 1 stretched, < 1 compressed. Edges with zero rest
    length give NaN.

    Args:
        verts: (V, 3) or (F, V, 3) float, metres.
        faces: (T, 3) int, welded mesh.
        panel_uv: (T, 3, 2) float, metres.

    Returns:
        (E,) or (F, E) float, in the edge order of :func:`unique_edges`.
    """
    edges, rest = pattern_rest_lengths(faces, panel_uv)
    length = edge_lengths(verts, edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = length / np.where(rest > 0, rest, np.nan)
    return ratio.astype(np.result_type(length.dtype, np.float32), copy=False)
