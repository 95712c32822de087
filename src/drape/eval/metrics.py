"""Evaluation metrics of garment rollouts against the physics ground truth (DESIGN §5). Pure numpy.

Every function takes whole sequences (frames first) and returns per-frame arrays or a
single number; nothing is averaged over frames unless the name says so.

==========================  ====================================================================
vertex_error_mm             (F,) mean Euclidean distance per vertex to the ground truth, mm
penetration_pct_per_frame   (F,) % of garment vertices more than ``depth`` inside the body
stretch_ratio               (F, E) edge length / rest length (sewing pattern or reference drape)
stretch_p99                 p99 of stretch_ratio over edges and frames
acceleration                (F-2, V, 3) second differences x fps^2, m/s^2 (centre frames 1..F-2)
jitter_per_frame            (F-2,) mean |acceleration - ground-truth acceleration|, m/s^2
lbs_baseline                (F, V, 3) the reference drape skinned with the binding weights
==========================  ====================================================================
"""

from __future__ import annotations

import numpy as np

from drape.types import DrapeError


def _check_pair(pred: np.ndarray, gt: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape or p.ndim != 3 or p.shape[-1] != 3:
        raise DrapeError(f"{name}: expected prediction and ground truth of one shape (F, V, 3), got {p.shape} and {g.shape}")
    return p, g


def vertex_error_mm(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(F,) float64 mm: mean over vertices of |pred - gt|. pred, gt: (F, V, 3) metres."""
    p, g = _check_pair(pred, gt, "vertex_error_mm")
    return 1000.0 * np.linalg.norm(p - g, axis=-1).mean(-1)


def persistence_baseline(reference, transforms: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """(F - 1, V, 3) float32 metres, frames 1 .. F-1: each frame's garment predicted by keeping the previous
    ground-truth frame's offset and posing it with this frame's skeleton (inverse then forward LBS with
    ``reference.frame_weights``). The one-step baseline a dynamics model must beat. verts (F, V, 3) world metres."""
    from drape.model.features import skin, unskin

    T = np.asarray(transforms, dtype=np.float64)
    X = np.asarray(verts, dtype=np.float64)
    W = np.asarray(reference.frame_weights, dtype=np.float64)
    if T.ndim != 4 or X.ndim != 3 or T.shape[0] != X.shape[0] or T.shape[1] != W.shape[1] or X.shape[1] != W.shape[0]:
        raise DrapeError(f"persistence_baseline: expected transforms (F, {W.shape[1]}, 4, 4) and verts (F, {W.shape[0]}, 3), "
                         f"got {T.shape} and {X.shape}")
    return skin(W, T[1:], unskin(W, T[:-1], X[:-1])).astype(np.float32)


def penetration_pct_per_frame(garment_verts: np.ndarray, body_verts: np.ndarray, body_faces: np.ndarray, *,
                              depth: float = 0.001) -> np.ndarray:
    """(F,) float64: % of garment vertices more than ``depth`` metres inside the body, per frame.

    garment_verts (F, V, 3), body_verts (F, Vb, 3) metres; body_faces (Tb, 3) outward oriented.
    Signed distance to the nearest body face, no post-processing.
    """
    from drape.geometry.distance import MeshTopology, penetration_pct

    g = np.asarray(garment_verts)
    b = np.asarray(body_verts)
    if g.ndim != 3 or b.ndim != 3 or len(g) != len(b):
        raise DrapeError(f"penetration: expected garment (F, V, 3) and body (F, Vb, 3) verts, got {g.shape} and {b.shape}")
    topo = MeshTopology(np.asarray(body_faces))
    return np.array([penetration_pct(g[f], b[f], body_faces, depth=depth, topology=topo) for f in range(len(g))], dtype=np.float64)


def rest_edge_lengths(faces: np.ndarray, *, panel_uv: np.ndarray | None = None, rest_verts: np.ndarray | None = None):
    """Unique edges (E, 2) and rest lengths (E,) metres from the sewing pattern (preferred) or a rest mesh."""
    from drape.geometry.mesh_ops import edge_lengths, pattern_rest_lengths, unique_edges

    if panel_uv is not None:
        return pattern_rest_lengths(faces, panel_uv)
    if rest_verts is None:
        raise DrapeError("stretch: need panel_uv (sewing pattern) or rest_verts (reference drape) for rest lengths")
    e = unique_edges(faces)
    return e, edge_lengths(np.asarray(rest_verts, dtype=np.float64), e)


def stretch_ratio(verts: np.ndarray, faces: np.ndarray, *, panel_uv: np.ndarray | None = None,
                  rest_verts: np.ndarray | None = None) -> np.ndarray:
    """(F, E) edge length over rest length (1 = unstretched); edges of zero rest length are dropped."""
    from drape.geometry.mesh_ops import edge_lengths

    e, rest = rest_edge_lengths(faces, panel_uv=panel_uv, rest_verts=rest_verts)
    keep = rest > 0
    return edge_lengths(np.asarray(verts, dtype=np.float64), e[keep]) / rest[keep]


def stretch_p99(verts: np.ndarray, faces: np.ndarray, *, panel_uv: np.ndarray | None = None,
                rest_verts: np.ndarray | None = None) -> float:
    """99th percentile over edges and frames of edge length / rest length. verts (F, V, 3) or (V, 3)."""
    r = stretch_ratio(verts, faces, panel_uv=panel_uv, rest_verts=rest_verts)
    r = r[np.isfinite(r)]
    return float(np.percentile(r, 99)) if r.size else float("nan")


def acceleration(verts: np.ndarray, fps: float) -> np.ndarray:
    """(F-2, V, 3) m/s^2: (x[f+1] - 2 x[f] + x[f-1]) * fps^2 for the centre frames f = 1 .. F-2."""
    x = np.asarray(verts, dtype=np.float64)
    if x.ndim != 3 or len(x) < 3:
        raise DrapeError(f"acceleration: expected (F >= 3, V, 3) verts, got {x.shape}")
    return (x[2:] - 2.0 * x[1:-1] + x[:-2]) * (fps * fps)


def jitter_per_frame(pred: np.ndarray, gt: np.ndarray, fps: float) -> np.ndarray:
    """(F-2,) m/s^2: mean over vertices of |a_pred - a_gt| at the centre frames 1 .. F-2."""
    p, g = _check_pair(pred, gt, "jitter")
    return np.linalg.norm(acceleration(p, fps) - acceleration(g, fps), axis=-1).mean(-1)


def lbs_baseline(reference, transforms: np.ndarray) -> np.ndarray:
    """(F, V, 3) float32 metres: the reference drape posed by linear blend skinning with the binding
    (``reference.skin_weights``), no dynamics. transforms (F, J, 4, 4)."""
    T = np.asarray(transforms, dtype=np.float64)
    W = np.asarray(reference.skin_weights, dtype=np.float64)
    if T.ndim != 4 or T.shape[1] != W.shape[1]:
        raise DrapeError(f"lbs_baseline: transforms: expected (F, {W.shape[1]}, 4, 4), got {T.shape}")
    M = np.einsum("vj,fjab->fvab", W, T[:, :, :3, :])
    rest = np.asarray(reference.verts, dtype=np.float64)
    return (np.einsum("fvab,vb->fva", M[..., :3], rest) + M[..., 3]).astype(np.float32)
