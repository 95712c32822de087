"""Skinning-weight transfer from the body to a garment.

Close-fitting parts take the weights of the nearest skin. Loose garments that hang
between the legs (skirts, dresses) would be torn apart by those weights when the
legs move in opposite directions, so below the hips their leg weights are
gathered onto the thighs, made left/right symmetric and partly handed to the
pelvis, progressively with the distance below the hip joints; finally the weights
are diffused over the garment surface (implicit Laplacian smoothing) so that
neighbouring vertices never get very different weights.
"""

from __future__ import annotations

import numpy as np

from drape.types import DrapeError

LOOSE_KINDS = ("skirt", "dress")
"""Kinds that hang between the legs and get the leg-blending treatment."""

_SMOOTH_LENGTH = {"skirt": 0.08, "dress": 0.08, "tshirt": 0.02, "trousers": 0.015, "shorts": 0.02}
"""Diffusion length (metres) of the weight smoothing, per kind (default 0.02)."""


def _graph_laplacian(verts: np.ndarray, faces: np.ndarray | None):
    import scipy.sparse as sp

    V = len(verts)
    if faces is not None and len(faces):
        f = np.asarray(faces)
        e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
        e = np.unique(np.sort(e, 1), axis=0)
    else:
        from scipy.spatial import cKDTree

        k = min(8, V - 1)
        _, idx = cKDTree(verts).query(verts, k=k + 1)
        e = np.stack([np.repeat(np.arange(V), k), idx[:, 1:].reshape(-1)], 1)
        e = np.unique(np.sort(e, 1), axis=0)
    h = float(np.median(np.linalg.norm(verts[e[:, 0]] - verts[e[:, 1]], axis=1))) if len(e) else 1.0
    i = np.concatenate([e[:, 0], e[:, 1]])
    j = np.concatenate([e[:, 1], e[:, 0]])
    A = sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(V, V))
    deg = np.asarray(A.sum(1)).ravel()
    return sp.diags(deg) - A, max(h, 1e-6)


def nearest_skin_weights(points: np.ndarray, body_verts: np.ndarray, body_weights: np.ndarray, *, k: int = 8,
                         sigma: float = 0.015) -> np.ndarray:
    """(P, J) weights blended from the k nearest body vertices (Gaussian in the extra distance)."""
    from scipy.spatial import cKDTree

    d, idx = cKDTree(body_verts).query(points, k=k)
    w = np.exp(-(((d - d[:, :1]) / sigma) ** 2))
    w /= w.sum(1, keepdims=True)
    return np.einsum("pk,pkj->pj", w, body_weights[idx])


def transfer_weights(garment_verts: np.ndarray, body, *, kind: str, faces: np.ndarray | None = None,
                     smooth_length: float | None = None) -> np.ndarray:
    """Skinning weights for a garment placed around the rest-pose body.

    garment_verts: (V, 3) metres, rest frame. body: a :class:`drape.body.model.Body`.
    kind: garment kind (``skirt`` and ``dress`` get the leg blending).
    faces: (T, 3) garment faces for smoothing over the surface (else a k-nearest graph).
    smooth_length: metres of diffusion (default per kind).
    Returns (V, J) float32, rows sum to 1.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    v = np.asarray(garment_verts, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise DrapeError(f"transfer_weights: garment_verts: expected (V, 3) with V > 0, got {v.shape}")
    names = list(body.bone_names)
    W = nearest_skin_weights(v, body.rest_verts.astype(np.float64), body.skin_weights.astype(np.float64))
    if kind in LOOSE_KINDS:
        W = _blend_legs(W, v, body, names)
    ell = _SMOOTH_LENGTH.get(kind, 0.02) if smooth_length is None else float(smooth_length)
    if ell > 0 and len(v) > 3:
        L, h = _graph_laplacian(v, faces)
        lam = (ell / h) ** 2
        M = (sp.identity(len(v)) + lam * L).tocsc()
        solve = spla.splu(M)
        W = np.stack([solve.solve(W[:, j]) if W[:, j].any() else W[:, j] for j in range(W.shape[1])], 1)
    W = np.clip(W, 0, None)
    W[W < 1e-4] = 0.0
    W /= np.maximum(W.sum(1, keepdims=True), 1e-12)
    return W.astype(np.float32)


def _blend_legs(W: np.ndarray, v: np.ndarray, body, names: list[str], *, to_root: float = 0.5) -> np.ndarray:
    """Below the hips: leg chains -> thighs, left/right symmetric, part handed to the pelvis."""
    W = W.copy()
    hips = names.index("Hips")
    up = {s: names.index(f"{s}UpLeg") for s in ("Left", "Right")}
    for s in ("Left", "Right"):
        for b in ("Leg", "Foot", "ToeBase"):
            j = names.index(f"{s}{b}")
            W[:, up[s]] += W[:, j]
            W[:, j] = 0.0
    heads = body.rest_bone_heads
    z_hip = float(heads[up["Left"], 2])
    z_knee = float(heads[names.index("LeftLeg"), 2])
    t = np.clip((z_hip - v[:, 2]) / max(z_hip - z_knee, 1e-3), 0.0, 1.0)
    t = t * t * (3 - 2 * t)  # smoothstep
    wl, wr = W[:, up["Left"]], W[:, up["Right"]]
    legs = wl + wr
    sym = 0.5 * legs
    new_l = (1 - t) * wl + t * sym
    new_r = (1 - t) * wr + t * sym
    give = to_root * t
    W[:, up["Left"]] = new_l * (1 - give)
    W[:, up["Right"]] = new_r * (1 - give)
    W[:, hips] += legs * give
    return W
