"""Signed distance from points to a triangle mesh, through the nearest face.

The unsigned distance is the exact point-to-triangle distance to the nearest
face. The sign comes from the *pseudo-normal* of the mesh feature (face
interior, edge or vertex) that holds the closest point: the face normal, the sum
of the two adjacent face normals for an edge, the angle-weighted sum of the
incident face normals for a vertex. For a closed, consistently oriented mesh
this sign is exact (negative inside). Open meshes get the side of the nearest
surface patch, which is what penetration through a garment or an open body
region means.

Fast path: a KD-tree over face centroids yields a distance upper bound from a
few nearby faces; only faces whose bounding sphere reaches within that bound are
then tested exactly, so the result equals the brute-force answer. Faces much
larger than the mesh's typical face are tested against every point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drape.geometry.mesh_ops import face_edge_ids
from drape.types import DrapeError

__all__ = [
    "MeshTopology",
    "topology_for",
    "Nearest",
    "closest_point_on_triangles",
    "nearest_on_mesh",
    "signed_distance",
    "signed_distance_brute",
    "penetration_pct",
]

# Feature codes returned by closest_point_on_triangles.
FACE, VERT0, VERT1, VERT2, EDGE01, EDGE12, EDGE20 = range(7)


def closest_point_on_triangles(
    p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact closest point on triangles (a, b, c) to points p, pairwise.

    Voronoi-region classification of the point against the triangle's corners,
    edges and interior.

    Args:
        p, a, b, c: (N, 3) float64.

    Returns:
        closest: (N, 3) float64.
        feature: (N,) int8: 0 face interior, 1/2/3 corner a/b/c, 4/5/6 edge ab/bc/ca.
    """
    ab = b - a
    ac = c - a
    ap = p - a
    d1 = np.einsum("ij,ij->i", ab, ap)
    d2 = np.einsum("ij,ij->i", ac, ap)
    bp = p - b
    d3 = np.einsum("ij,ij->i", ab, bp)
    d4 = np.einsum("ij,ij->i", ac, bp)
    cp = p - c
    d5 = np.einsum("ij,ij->i", ab, cp)
    d6 = np.einsum("ij,ij->i", ac, cp)
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4

    in_a = (d1 <= 0) & (d2 <= 0)
    in_b = (d3 >= 0) & (d4 <= d3)
    in_c = (d6 >= 0) & (d5 <= d6)
    in_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    in_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    in_bc = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)

    # Classification in priority order (the first region that matches wins).
    feature = np.select(
        [in_a, in_b, in_ab, in_c, in_ac, in_bc],
        [VERT0, VERT1, EDGE01, VERT2, EDGE20, EDGE12],
        default=FACE,
    ).astype(np.int8)

    with np.errstate(divide="ignore", invalid="ignore"):
        t_ab = np.clip(np.nan_to_num(d1 / (d1 - d3)), 0.0, 1.0)
        t_ac = np.clip(np.nan_to_num(d2 / (d2 - d6)), 0.0, 1.0)
        t_bc = np.clip(np.nan_to_num((d4 - d3) / ((d4 - d3) + (d5 - d6))), 0.0, 1.0)
        denom = va + vb + vc
        safe = np.where(denom != 0, denom, 1.0)
        v = vb / safe
        w = vc / safe

    closest = a + ab * v[:, None] + ac * w[:, None]  # face interior
    for code, value in (
        (VERT0, a),
        (VERT1, b),
        (VERT2, c),
        (EDGE01, a + ab * t_ab[:, None]),
        (EDGE20, a + ac * t_ac[:, None]),
        (EDGE12, b + (c - b) * t_bc[:, None]),
    ):
        m = feature == code
        if m.any():
            closest[m] = value[m]
    return closest, feature


def _components(faces: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected components of faces sharing a vertex: (count, (T,) label)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    T = len(faces)
    V = int(faces.max()) + 1
    graph = coo_matrix((np.ones(3 * T), (np.repeat(np.arange(T), 3), faces.ravel())), shape=(T, V)).tocsr()
    n, face_label = connected_components(graph @ graph.T, directed=False)
    return n, face_label


def _enclosed_mask(verts: np.ndarray, faces: np.ndarray) -> np.ndarray | None:
    """(T,) bool, False for faces of components enclosed by another component; None if nothing is enclosed."""
    n, label = _components(faces)
    if n < 2 or n > 64:  # many pieces (e.g. a mesh soup): no enclosure analysis
        return None
    sizes = np.bincount(label, minlength=n)
    order = np.argsort(-sizes)
    keep = np.ones(len(faces), bool)
    for small in order[1:]:
        vids = np.unique(faces[label == small])
        probes = verts[vids[:: max(1, len(vids) // 32)]]
        for big in order:
            if big == small or sizes[big] < sizes[small]:
                continue
            corners = verts[faces[label == big]]
            inside = [abs(_winding_number(q, corners)) > 0.5 for q in probes]
            if np.mean(inside) > 0.5:
                keep[label == small] = False
                break
    return keep


class MeshTopology:
    """Connectivity of a triangle mesh needed for pseudo-normals (depends on faces only).

    Build it once for a mesh animated over many frames and pass it as ``topology=``.
    """

    def __init__(self, faces: np.ndarray, *, drop_enclosed: bool = True):
        f = np.asarray(faces)
        if f.ndim != 2 or f.shape[1] != 3:
            raise DrapeError(f"faces: expected shape (T, 3), got {f.shape}")
        self.faces = f.astype(np.int64)
        """(T, 3) int64."""
        self.edges, self.edge_of_face = face_edge_ids(self.faces)
        self.vert_count = int(self.faces.max()) + 1 if len(self.faces) else 0
        self.drop_enclosed = drop_enclosed
        self._active: np.ndarray | None = None

    def active_faces(self, verts: np.ndarray) -> np.ndarray:
        """(T,) bool: faces that take part in distance queries.

        With ``drop_enclosed``, connected components lying entirely inside another
        component (anny's eyeballs and teeth inside the head) are left out, so a
        point between such a part and the skin is still inside. Decided on the
        first call (posing does not change what encloses what) and then cached.
        """
        if self._active is None:
            self._active = _enclosed_mask(np.asarray(verts, np.float64), self.faces) if self.drop_enclosed else None
            if self._active is None:
                self._active = np.ones(len(self.faces), bool)
        return self._active

    def pseudo_normals(self, verts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Face, edge and vertex pseudo-normals for one frame.

        Returns:
            face_n: (T, 3) unit face normals (zero for degenerate faces).
            edge_n: (E, 3) sum of adjacent unit face normals.
            vert_n: (V, 3) angle-weighted sum of incident unit face normals.
        """
        v = np.asarray(verts, dtype=np.float64)
        f = self.faces
        corners = v[f]  # (T, 3, 3)
        n = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        length = np.linalg.norm(n, axis=1, keepdims=True)
        face_n = np.divide(n, length, out=np.zeros_like(n), where=length > 0)

        E = len(self.edges)
        edge_n = np.stack(
            [np.bincount(self.edge_of_face.ravel(), weights=np.repeat(face_n[:, j], 3), minlength=E) for j in range(3)],
            axis=1,
        )

        # Interior angle at each corner.
        e_next = np.roll(corners, -1, axis=1) - corners
        e_prev = np.roll(corners, 1, axis=1) - corners
        ln = np.linalg.norm(e_next, axis=2)
        lp = np.linalg.norm(e_prev, axis=2)
        cos = np.einsum("tkj,tkj->tk", e_next, e_prev) / np.maximum(ln * lp, 1e-300)
        angle = np.arccos(np.clip(cos, -1.0, 1.0))  # (T, 3)
        V = max(self.vert_count, len(v))
        weighted = face_n[:, None, :] * angle[:, :, None]  # (T, 3 corners, 3)
        vert_n = np.stack(
            [np.bincount(f.ravel(), weights=weighted[:, :, j].ravel(), minlength=V) for j in range(3)], axis=1
        )
        return face_n, edge_n, vert_n


_TOPOLOGY_CACHE: dict[tuple, MeshTopology] = {}


def topology_for(faces: np.ndarray) -> MeshTopology:
    """A :class:`MeshTopology` for ``faces``, shared by calls with identical faces (small cache)."""
    import hashlib

    f = np.ascontiguousarray(faces, dtype=np.int64)
    key = (f.shape, hashlib.blake2b(f.tobytes(), digest_size=16).hexdigest())
    topo = _TOPOLOGY_CACHE.get(key)
    if topo is None:
        if len(_TOPOLOGY_CACHE) >= 8:
            _TOPOLOGY_CACHE.pop(next(iter(_TOPOLOGY_CACHE)))
        topo = _TOPOLOGY_CACHE[key] = MeshTopology(f)
    return topo


@dataclass(frozen=True)
class Nearest:
    """Nearest points on a mesh for a set of query points."""

    distance: np.ndarray
    """(P,) float64 metres, signed: negative inside (behind the surface)."""
    closest: np.ndarray
    """(P, 3) float64 metres: the closest surface point."""
    face: np.ndarray
    """(P,) int64 index of the face holding the closest point."""
    normal: np.ndarray
    """(P, 3) float64 unit pseudo-normal at the closest point (points outwards)."""


def _as_points(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise DrapeError(f"points: expected shape (P, 3), got {p.shape}")
    return p


def _as_mesh(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise DrapeError(f"mesh verts: expected shape (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise DrapeError(f"mesh faces: expected shape (T, 3) with T > 0, got {f.shape}")
    if f.min() < 0 or f.max() >= len(v):
        raise DrapeError(f"mesh faces: indices must lie in [0, {len(v)}), got [{f.min()}, {f.max()}]")
    return v, f.astype(np.int64)


def _sign_from_feature(
    p: np.ndarray,
    closest: np.ndarray,
    face: np.ndarray,
    feature: np.ndarray,
    topo: MeshTopology,
    normals: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    face_n, edge_n, vert_n = normals
    pn = face_n[face].copy()
    for code, corner in ((VERT0, 0), (VERT1, 1), (VERT2, 2)):
        m = feature == code
        pn[m] = vert_n[topo.faces[face[m], corner]]
    for code, k in ((EDGE01, 0), (EDGE12, 1), (EDGE20, 2)):
        m = feature == code
        pn[m] = edge_n[topo.edge_of_face[face[m], k]]
    length = np.linalg.norm(pn, axis=1, keepdims=True)
    pn = np.divide(pn, length, out=np.zeros_like(pn), where=length > 0)
    side = np.einsum("ij,ij->i", p - closest, pn)
    return np.where(side < 0, -1.0, 1.0), pn


def nearest_on_mesh(
    points: np.ndarray,
    verts: np.ndarray,
    faces: np.ndarray,
    *,
    topology: MeshTopology | None = None,
    k: int = 3,
) -> Nearest:
    """Closest mesh point, face, pseudo-normal and signed distance for each query point.

    Args:
        points: (P, 3) float, metres.
        verts: (V, 3) float, metres.
        faces: (T, 3) int, consistently oriented (normals point outwards).
        topology: precomputed :class:`MeshTopology` of ``faces`` (reuse across frames).
        k: faces tested in the first pass to get each point's distance bound.

    Returns:
        :class:`Nearest`; identical (up to rounding) to the brute-force search.
    """
    from scipy.spatial import cKDTree

    p = _as_points(points)
    v, f = _as_mesh(verts, faces)
    topo = topology if topology is not None else topology_for(f)
    if topo.faces.shape != f.shape:
        raise DrapeError(f"topology: built for {len(topo.faces)} faces, mesh has {len(f)}")
    P, T = len(p), len(f)
    if P == 0:
        z = np.zeros(0)
        return Nearest(z, np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros((0, 3)))

    corners = v[f]  # (T, 3, 3)
    centroid = corners.mean(axis=1)
    radius = np.linalg.norm(corners - centroid[:, None], axis=2).max(axis=1)  # bounding sphere per face
    active = topo.active_faces(v)
    unit_n = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    n_len = np.linalg.norm(unit_n, axis=1, keepdims=True)
    unit_n = np.divide(unit_n, n_len, out=np.zeros_like(unit_n), where=n_len > 0)
    stats = [0, 0]

    best_d2 = np.full(P, np.inf)
    best_face = np.zeros(P, np.int64)
    best_pt = np.zeros((P, 3))
    best_feat = np.zeros(P, np.int8)

    def consider(pi: np.ndarray, fi: np.ndarray) -> None:
        for s in range(0, len(pi), 1_000_000):
            _consider(pi[s : s + 1_000_000], fi[s : s + 1_000_000])

    def _consider(pi: np.ndarray, fi: np.ndarray) -> None:
        if len(pi) == 0:
            return
        c, feat = closest_point_on_triangles(p[pi], corners[fi, 0], corners[fi, 1], corners[fi, 2])
        d2 = np.einsum("ij,ij->i", p[pi] - c, p[pi] - c)
        # Per point minimum over its candidate pairs: sort by (point, d2), keep the first of each point.
        order = np.lexsort((d2, pi))
        pi_s = pi[order]
        first = np.ones(len(pi_s), bool)
        first[1:] = pi_s[1:] != pi_s[:-1]
        sel = order[first]
        q = pi[sel]
        better = d2[sel] < best_d2[q]
        q, sel = q[better], sel[better]
        best_d2[q] = d2[sel]
        best_face[q] = fi[sel]
        best_pt[q] = c[sel]
        best_feat[q] = feat[sel]

    # Pass 1: an upper bound on every point's distance from the faces with the nearest centroids.
    idx = np.flatnonzero(active)
    kk = min(k, len(idx))
    _, nn = cKDTree(centroid[idx]).query(p, k=kk)
    consider(np.repeat(np.arange(P), kk), idx[np.reshape(nn, (P, kk)).ravel()])
    bound = np.sqrt(best_d2)

    # Pass 2: faces binned by bounding radius (factor 2 per bin) so each bin's search
    # ball, bound + its largest radius, stays tight. Every face that could hold a
    # closer point has its centroid inside its bin's ball.
    r = radius[idx]
    level = np.floor(np.log2(np.maximum(r, 1e-12) / max(float(r.max()), 1e-12))).astype(np.int64)
    level = np.maximum(level, -12)  # faces under 1/4096 of the largest share the last bin
    K = 24
    for lv in np.unique(level):
        bin_idx = idx[level == lv]
        r_bin = float(radius[bin_idx].max())
        tree = cKDTree(centroid[bin_idx])
        kb = min(K, len(bin_idx))
        reach = bound + r_bin
        pis, fis, overflow = [], [], []
        # cKDTree takes one scalar search limit: query points in groups of similar reach.
        by_reach = np.argsort(reach)
        for group in np.array_split(by_reach, min(8, P)):
            if len(group) == 0:
                continue
            dist, nb = tree.query(p[group], k=kb, distance_upper_bound=float(reach[group].max()))
            dist = np.reshape(dist, (len(group), kb))
            nb = np.reshape(nb, (len(group), kb))
            hit = dist <= reach[group, None]
            # All K neighbours inside the reach: there may be more; those points use a ball query.
            full = hit[:, -1].copy() if kb < len(bin_idx) else np.zeros(len(group), bool)
            hit[full] = False
            rows, cols = np.nonzero(hit)
            pis.append(group[rows])
            fis.append(bin_idx[nb[rows, cols]])
            overflow.append(group[full])
        pi = np.concatenate(pis)
        fi = np.concatenate(fis)
        overflow = np.concatenate(overflow)
        if len(overflow):
            lists = tree.query_ball_point(p[overflow], reach[overflow], return_sorted=False)
            counts = np.fromiter((len(x) for x in lists), np.int64, count=len(overflow))
            extra = np.fromiter((j for x in lists for j in x), np.int64, count=int(counts.sum()))
            pi = np.concatenate([pi, np.repeat(overflow, counts)])
            fi = np.concatenate([fi, bin_idx[extra]])
        # Tighter per-face test: the face's own sphere must reach within the bound.
        tol = bound[pi] * (1 + 1e-9) + 1e-12
        gap = np.linalg.norm(p[pi] - centroid[fi], axis=1) - radius[fi]
        keep = gap <= tol
        pi, fi, tol = pi[keep], fi[keep], tol[keep]
        # The distance to the face's plane is a lower bound too (cheaper than the exact test).
        plane = np.abs(np.einsum("ij,ij->i", p[pi] - corners[fi, 0], unit_n[fi]))
        keep = plane <= tol
        stats[0] += len(keep)
        stats[1] += int(keep.sum())
        consider(pi[keep], fi[keep])

    sign, pn = _sign_from_feature(p, best_pt, best_face, best_feat, topo, topo.pseudo_normals(v))
    return Nearest(sign * np.sqrt(best_d2), best_pt, best_face, pn)


def signed_distance(
    points: np.ndarray, verts: np.ndarray, faces: np.ndarray, *, topology: MeshTopology | None = None
) -> np.ndarray:
    """Signed distance (P,) float64 metres from points (P, 3) to the mesh (V, 3) / (T, 3); negative inside."""
    return nearest_on_mesh(points, verts, faces, topology=topology).distance


def _closest_on_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = b - a
    dd = np.einsum("...j,...j->...", d, d)
    t = np.einsum("...j,...j->...", p - a, d) / np.where(dd > 0, dd, 1.0)
    return a + np.clip(t, 0.0, 1.0)[..., None] * d


def _winding_number(p: np.ndarray, corners: np.ndarray) -> float:
    """Generalised winding number of a closed mesh around point p (solid angles / 4 pi)."""
    a, b, c = (corners[:, k] - p for k in range(3))
    la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
    num = np.einsum("ij,ij->i", a, np.cross(b, c))
    den = la * lb * lc + np.einsum("ij,ij->i", a, b) * lc + np.einsum("ij,ij->i", b, c) * la
    den += np.einsum("ij,ij->i", c, a) * lb
    return float(np.sum(2.0 * np.arctan2(num, den)) / (4.0 * np.pi))


def signed_distance_brute(points: np.ndarray, verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Slow reference for :func:`signed_distance` on closed meshes.

    Independent algorithm: per point, against every face, project onto the plane
    and keep the projection if it lies inside the triangle, else the nearest of
    the three edge points; the sign is inside/outside by the generalised winding
    number. O(P * T); for tests.
    """
    p = _as_points(points)
    v, f = _as_mesh(verts, faces)
    corners = v[f]
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    n = np.cross(b - a, c - a)
    nn = np.einsum("ij,ij->i", n, n)
    out = np.empty(len(p))
    for i, x in enumerate(p):
        t = np.einsum("ij,ij->i", x - a, n) / np.where(nn > 0, nn, 1.0)
        proj = x - t[:, None] * n
        # Inside test by the signs of the sub-triangle normals.
        inside = np.ones(len(f), bool)
        for u, w in ((a, b), (b, c), (c, a)):
            inside &= np.einsum("ij,ij->i", np.cross(w - u, proj - u), n) >= 0
        inside &= nn > 0
        best = np.full(len(f), np.inf)
        best[inside] = np.linalg.norm(x - proj[inside], axis=1)
        for u, w in ((a, b), (b, c), (c, a)):
            q = _closest_on_segment(np.broadcast_to(x, u.shape), u, w)
            best = np.minimum(best, np.linalg.norm(x - q, axis=1))
        d = best.min()
        out[i] = -d if _winding_number(x, corners) > 0.5 else d
    return out


def penetration_pct(
    points: np.ndarray,
    mesh_verts: np.ndarray,
    mesh_faces: np.ndarray,
    *,
    depth: float = 0.001,
    topology: MeshTopology | None = None,
) -> float:
    """Percentage of points more than ``depth`` metres inside the mesh.

    Args:
        points: (P, 3) float metres (e.g. garment vertices of one frame).
        mesh_verts: (V, 3) float metres (the body).
        mesh_faces: (T, 3) int, outward oriented.
        depth: metres; a point counts when its signed distance < -depth.

    Returns:
        float in [0, 100]; 0.0 for no points.
    """
    p = _as_points(points)
    if len(p) == 0:
        return 0.0
    d = signed_distance(p, mesh_verts, mesh_faces, topology=topology)
    return float(100.0 * np.count_nonzero(d < -depth) / len(p))
