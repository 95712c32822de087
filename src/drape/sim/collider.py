"""The body as a kinematic, deforming collision mesh, and body-driven garment vertices.

The collider is a Newton mesh shape whose points and velocities are rewritten
and whose BVH is refit every substep (the body deforms; it is not a rigid
body). Newton and Warp are imported inside the functions that use them.
"""

from __future__ import annotations

import numpy as np

from drape.types import DrapeError


class BodyCollider:
    """A deforming triangle mesh the cloth collides with.

    Args:
        verts: (V, 3) float32 metres: initial body vertices.
        faces: (T, 3) int32, outward oriented.
    """

    def __init__(self, verts: np.ndarray, faces: np.ndarray):
        v = np.asarray(verts, dtype=np.float32)
        f = np.asarray(faces, dtype=np.int32)
        if v.ndim != 2 or v.shape[1] != 3:
            raise DrapeError(f"collider: verts: expected (V, 3), got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3:
            raise DrapeError(f"collider: faces: expected (T, 3), got {f.shape}")
        self.faces = f
        self._initial = v
        self._mesh = None

    @property
    def vert_count(self) -> int:
        return int(len(self._initial))

    def newton_mesh(self):
        """The ``newton.Mesh`` to add as a shape (created once)."""
        if self._mesh is None:
            import newton

            self._mesh = newton.Mesh(self._initial, self.faces.reshape(-1), compute_inertia=False)
        return self._mesh

    def set(self, verts: np.ndarray, velocities: np.ndarray) -> None:
        """Move the collider: verts (V, 3) metres and velocities (V, 3) m/s; refits its BVH."""
        wp_mesh = self.newton_mesh().mesh
        if wp_mesh is None:
            raise DrapeError("collider: the Newton model is not finalized yet")
        wp_mesh.points.assign(np.ascontiguousarray(verts, dtype=np.float32))
        wp_mesh.velocities.assign(np.ascontiguousarray(velocities, dtype=np.float32))
        wp_mesh.refit()


def nearest_body_weights(points: np.ndarray, body_verts: np.ndarray, skin_weights: np.ndarray, *, k: int = 4) -> np.ndarray:
    """Skinning weights for garment points from the nearest body vertices (rest frame).

    Inverse-distance blend of the ``k`` nearest body vertices' weights.

    Args:
        points: (P, 3) metres, rest frame.
        body_verts: (V, 3) metres, rest frame.
        skin_weights: (V, J) rows summing to 1.
    Returns:
        (P, J) float32, rows sum to 1.
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 0:
        return np.zeros((0, skin_weights.shape[1]), dtype=np.float32)
    k = min(k, len(body_verts))
    dist, idx = cKDTree(np.asarray(body_verts, dtype=np.float64)).query(pts, k=k)
    dist = dist.reshape(len(pts), k)
    idx = idx.reshape(len(pts), k)
    w = 1.0 / np.maximum(dist, 1e-6)
    w /= w.sum(1, keepdims=True)
    out = np.einsum("pk,pkj->pj", w, np.asarray(skin_weights, dtype=np.float64)[idx])
    out /= np.maximum(out.sum(1, keepdims=True), 1e-12)
    return out.astype(np.float32)
