"""Sewing-pattern geometry: 2D outlines, triangulation, welding, placement and flattening.

Library garments are built as *front and back panels sharing one outline* drawn in
the body's frontal plane (x, z). The outline's edges are either **seams** (front
and back are sewn together there: side seams, shoulder and over-arm seams,
inseams) or **open** edges (hem, cuffs, neckline, waist). One 2D triangulation
of the outline serves both panels; vertices on seams are shared, so welding is
index-exact. The front panel is lifted in front of the body and the back panel
behind it, relaxed into a smooth surface at a set clearance from the skin, and
each panel (optionally split further, e.g. sleeves from the body) is flattened by
ARAP into its 2D pattern piece (metres). Hence the pattern's rest shape is the
placement itself, up to the small stretch that developing a curved panel needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


# ---------------------------------------------------------------------------- outlines
@dataclass(frozen=True)
class Outline:
    """A closed polygon in the (x, z) plane, counter-clockwise, with per-edge labels."""

    points: np.ndarray
    """(N, 2) float64 metres."""
    edge_tag: np.ndarray
    """(N,) int: label of edge i (points[i] -> points[i+1]); 0 = seam, > 0 = an open edge's cut id."""

    @property
    def open_edges(self) -> np.ndarray:
        return self.edge_tag > 0


def resample_outline(outline: Outline, spacing: float) -> Outline:
    """Resample at about ``spacing`` metres, keeping the points where the edge tag changes."""
    pts, tag = outline.points, outline.edge_tag.copy()
    N = len(pts)
    seg_len = np.linalg.norm(np.roll(pts, -1, 0) - pts, axis=1)
    # absorb runs shorter than half the spacing into the preceding run
    for _ in range(8):
        starts = np.nonzero(tag != np.roll(tag, 1))[0]
        if len(starts) < 2:
            break
        changed = False
        for r, s0 in enumerate(starts):
            e0 = starts[(r + 1) % len(starts)]
            idx = np.arange(s0, e0 if e0 > s0 else e0 + N) % N
            if seg_len[idx].sum() < 0.5 * spacing:
                tag[idx] = tag[(s0 - 1) % N]
                changed = True
                break
        if not changed:
            break
    change = np.nonzero(tag != np.roll(tag, 1))[0]  # a run starts at point i
    if len(change) == 0:
        change = np.array([0])
    out_pts, out_tag = [], []
    for r, s in enumerate(change):
        e = change[(r + 1) % len(change)]
        idx = np.arange(s, e if e > s else e + N) % N
        idx = np.append(idx, e % N)  # run points s..e inclusive (e starts the next run)
        run = pts[idx]
        seg = np.linalg.norm(np.diff(run, axis=0), axis=1)
        cum = np.concatenate([[0], np.cumsum(seg)])
        L = cum[-1]
        n = max(1, int(round(L / spacing)))
        t = np.linspace(0, L, n + 1)[:-1]
        res = np.stack([np.interp(t, cum, run[:, 0]), np.interp(t, cum, run[:, 1])], 1)
        out_pts.append(res)
        out_tag.append(np.full(n, tag[s]))
    return Outline(np.concatenate(out_pts), np.concatenate(out_tag))


# ---------------------------------------------------------------------------- triangulation
@dataclass(frozen=True)
class PlanarMesh:
    """A triangulated outline."""

    points: np.ndarray
    """(P, 2) float64 metres; the first B points are the outline's boundary, in order."""
    tris: np.ndarray
    """(T, 3) int64, counter-clockwise."""
    boundary_count: int
    edge_tag: np.ndarray
    """(B,) tag of boundary edge i -> i+1 (0 seam, > 0 open)."""

    @property
    def seam_vertex(self) -> np.ndarray:
        """(P,) bool: vertices on a seam edge (shared by front and back panels)."""
        B = self.boundary_count
        m = np.zeros(len(self.points), bool)
        seam = np.nonzero(self.edge_tag == 0)[0]
        m[seam] = True
        m[(seam + 1) % B] = True
        return m


def triangulate_outline(outline: Outline, spacing: float, *, inner_lines: list[np.ndarray] = ()) -> PlanarMesh:
    """Triangulate a resampled outline: hexagonal interior points + constrained-by-spacing Delaunay.

    ``inner_lines``: polylines (K, 2) inside the outline (panel cut lines); their points are
    inserted so that mesh edges follow them.
    """
    from matplotlib.path import Path
    from scipy.spatial import Delaunay, cKDTree

    bnd = outline.points
    B = len(bnd)
    path = Path(np.vstack([bnd, bnd[:1]]), closed=True)
    lo, hi = bnd.min(0), bnd.max(0)
    h = spacing * np.sqrt(3) / 2
    rows = np.arange(lo[1] + 0.5 * h, hi[1], h)
    pts = []
    for r, z in enumerate(rows):
        xs = np.arange(lo[0] + (0.5 * spacing if r % 2 else 0.0), hi[0] + spacing, spacing)
        pts.append(np.stack([xs, np.full_like(xs, z)], 1))
    grid = np.concatenate(pts) if pts else np.zeros((0, 2))
    inside = path.contains_points(grid)
    grid = grid[inside]
    # keep interior points away from the boundary (and from inner lines)
    dense = [_densify(np.vstack([bnd, bnd[:1]]), spacing / 6)]
    extra = []
    for line in inner_lines:
        line = np.asarray(line, dtype=np.float64)
        seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
        cum = np.concatenate([[0], np.cumsum(seg)])
        n = max(1, int(round(cum[-1] / spacing)))
        t = np.linspace(0, cum[-1], n + 1)
        lp = np.stack([np.interp(t, cum, line[:, 0]), np.interp(t, cum, line[:, 1])], 1)
        # only its strictly inner points; the ends lie on the boundary already or inside
        keep = path.contains_points(lp) & (cKDTree(dense[0]).query(lp)[0] > 0.5 * spacing)
        extra.append(lp[keep])
        dense.append(_densify(line, spacing / 6))
    tree = cKDTree(np.concatenate(dense))
    d, _ = tree.query(grid)
    grid = grid[d > 0.6 * spacing]
    allp = np.concatenate([bnd] + extra + [grid])
    tri = Delaunay(allp).simplices
    c = allp[tri].mean(1)
    tri = tri[path.contains_points(c)]
    # counter-clockwise
    a = allp[tri]
    cr = (a[:, 1, 0] - a[:, 0, 0]) * (a[:, 2, 1] - a[:, 0, 1]) - (a[:, 1, 1] - a[:, 0, 1]) * (a[:, 2, 0] - a[:, 0, 0])
    tri = np.where((cr < 0)[:, None], tri[:, [0, 2, 1]], tri)
    tri = tri[np.abs(cr) > 1e-12 * spacing * spacing]
    # drop points no triangle uses (can happen to extra points very near the boundary)
    used = np.zeros(len(allp), bool)
    used[tri] = True
    used[:B] = True
    remap = np.cumsum(used) - 1
    allp, tri = allp[used], remap[tri]
    mesh = PlanarMesh(allp, tri.astype(np.int64), B, outline.edge_tag.copy())
    return _split_seam_chords(mesh)


def _densify(line: np.ndarray, step: float) -> np.ndarray:
    out = [line[:1]]
    for a, b in zip(line[:-1], line[1:]):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        t = np.linspace(0, 1, n + 1)[1:, None]
        out.append(a + (b - a) * t)
    return np.concatenate(out)


def _split_seam_chords(mesh: PlanarMesh) -> PlanarMesh:
    """Split interior edges joining two seam vertices (they would be sewn twice when welding)."""
    pts, tris = mesh.points, mesh.tris
    for _ in range(4):
        seam = mesh.seam_vertex
        e = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
        key = np.sort(e, 1)
        uniq, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
        inv = inv.reshape(-1)
        bad = np.nonzero((cnt == 2) & seam[uniq[:, 0]] & seam[uniq[:, 1]])[0]
        if len(bad) == 0:
            break
        T = len(tris)
        new_tris = [t for t in tris]
        dead = np.zeros(T, bool)
        new_pts = [pts]
        nid = len(pts)
        for b in bad:
            owners = np.nonzero(inv == b)[0] % T
            if dead[owners].any():
                continue
            a, c = uniq[b]
            m = nid
            nid += 1
            new_pts.append(0.5 * (pts[a] + pts[c])[None])
            for t in owners:
                dead[t] = True
                tt = list(tris[t])
                # rotate so the triangle reads (a', c', o) with (a', c') the split edge
                for _r in range(3):
                    if {tt[0], tt[1]} == {a, c}:
                        break
                    tt = tt[1:] + tt[:1]
                p, q, o = tt
                new_tris.append(np.array([p, m, o]))
                new_tris.append(np.array([m, q, o]))
        tris = np.array([t for i, t in enumerate(new_tris) if i >= T or not dead[i]])
        pts = np.concatenate(new_pts)
        mesh = PlanarMesh(pts, tris.astype(np.int64), mesh.boundary_count, mesh.edge_tag)
    return mesh


# ---------------------------------------------------------------------------- welding
@dataclass(frozen=True)
class TwoLayer:
    """Front and back panels of one planar mesh, welded along the seams."""

    faces: np.ndarray
    """(2T, 3) int64: front faces then back faces (back ones reversed)."""
    src: np.ndarray
    """(V,) planar-mesh point of each 3D vertex."""
    layer: np.ndarray
    """(V,) int: 0 front, 1 back, 2 shared seam vertex."""
    open_tag: np.ndarray
    """(V,) int: open-edge tag of the vertex (0 when not on an open edge)."""


def weld_two_layers(mesh: PlanarMesh) -> TwoLayer:
    """Duplicate the planar mesh into a front and a back layer, sharing seam vertices."""
    P = len(mesh.points)
    shared = mesh.seam_vertex
    back_id = np.arange(P)
    dup = np.nonzero(~shared)[0]
    back_id[dup] = P + np.arange(len(dup))
    V = P + len(dup)
    src = np.concatenate([np.arange(P), dup])
    layer = np.concatenate([np.where(shared, 2, 0), np.ones(len(dup), int)])
    front = mesh.tris
    back = back_id[mesh.tris][:, [0, 2, 1]]
    # keep only the used points (every point is used by construction)
    B = mesh.boundary_count
    otag = np.zeros(P, np.int64)
    openi = np.nonzero(mesh.edge_tag > 0)[0]
    otag[openi] = mesh.edge_tag[openi]
    otag[(openi + 1) % B] = np.maximum(otag[(openi + 1) % B], mesh.edge_tag[openi])
    open_tag = otag[src]
    return TwoLayer(np.concatenate([front, back]).astype(np.int64), src, layer, open_tag)


# ---------------------------------------------------------------------------- mesh utilities
def edges_of(faces: np.ndarray) -> np.ndarray:
    """(E, 2) unique undirected edges (sorted pairs)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, 1), axis=0)


def uniform_laplacian(faces: np.ndarray, V: int):
    """Row-normalized adjacency (sparse V x V): (A @ X)[i] = mean of i's neighbours."""
    import scipy.sparse as sp

    e = edges_of(faces)
    i = np.concatenate([e[:, 0], e[:, 1]])
    j = np.concatenate([e[:, 1], e[:, 0]])
    A = sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(V, V))
    deg = np.asarray(A.sum(1)).ravel()
    return sp.diags(1.0 / np.maximum(deg, 1)) @ A


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Ordered vertex loops of the mesh boundary."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    key = np.sort(e, 1)
    _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    bnd = e[cnt[inv.reshape(-1)] == 1]
    nxt = {int(a): int(b) for a, b in bnd}
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop = [start]
        seen.add(start)
        cur = nxt[start]
        while cur != start and cur not in seen:
            loop.append(cur)
            seen.add(cur)
            cur = nxt.get(cur, start)
        loops.append(np.array(loop))
    return loops


def triangle_areas(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    v = np.asarray(verts, dtype=np.float64)
    t = v[faces]
    if v.shape[1] == 2:
        a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
        return 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    return 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)


def corner_areas(uv: np.ndarray) -> np.ndarray:
    """(T,) signed areas of per-corner 2D triangles uv (T, 3, 2)."""
    a, b = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    return 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])


# ---------------------------------------------------------------------------- placement
def push_out(v: np.ndarray, proximity, clearance: float) -> np.ndarray:
    """Move points closer than ``clearance`` to the body out along the body normal."""
    d, n = proximity.signed_distance(v)
    low = d < clearance
    if low.any():
        v = v.copy()
        v[low] += (clearance - d[low])[:, None] * n[low]
    return v


# ---------------------------------------------------------------------------- flattening
def _local_frames(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(T, 3, 2) each triangle's corners in an isometric 2D frame of its own plane."""
    t = verts[faces]
    e1 = t[:, 1] - t[:, 0]
    e2 = t[:, 2] - t[:, 0]
    l1 = np.linalg.norm(e1, axis=1)
    x = e1 / np.maximum(l1, 1e-15)[:, None]
    n = np.cross(e1, e2)
    y = np.cross(n, x)
    y /= np.maximum(np.linalg.norm(y, axis=1), 1e-15)[:, None]
    out = np.zeros((len(faces), 3, 2))
    out[:, 1, 0] = l1
    out[:, 2, 0] = (e2 * x).sum(1)
    out[:, 2, 1] = (e2 * y).sum(1)
    return out


def _cotangents(local: np.ndarray) -> np.ndarray:
    """(T, 3) cotangent of the angle at each corner."""
    out = np.zeros(local.shape[:2])
    for k in range(3):
        a = local[:, (k + 1) % 3] - local[:, k]
        b = local[:, (k + 2) % 3] - local[:, k]
        cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        out[:, k] = (a * b).sum(1) / np.maximum(np.abs(cross), 1e-15)
    return out


def tutte_embedding(faces: np.ndarray, V: int, verts: np.ndarray) -> np.ndarray:
    """(V, 2) flip-free initial flattening of a disc: boundary on a circle (by arc length), uniform weights."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    loops = boundary_loops(faces)
    if not loops:
        raise ValueError("flatten: chart has no boundary (closed surface)")
    loop = max(loops, key=len)
    seg = np.linalg.norm(verts[np.roll(loop, -1)] - verts[loop], axis=1)
    t = np.concatenate([[0], np.cumsum(seg)[:-1]]) / seg.sum() * 2 * np.pi
    R = seg.sum() / (2 * np.pi)
    uv = np.zeros((V, 2))
    uv[loop] = R * np.stack([np.cos(t), np.sin(t)], 1)
    fixed = np.zeros(V, bool)
    fixed[loop] = True
    A = uniform_laplacian(faces, V)
    L = sp.identity(V, format="csr") - A
    free = np.nonzero(~fixed)[0]
    if len(free):
        Lff = L[free][:, free].tocsc()
        rhs = -(L[free][:, loop] @ uv[loop])
        solve = spla.splu(Lff)
        uv[free] = np.stack([solve.solve(rhs[:, 0]), solve.solve(rhs[:, 1])], 1)
    return uv


def flatten_arap(verts: np.ndarray, faces: np.ndarray, *, init: np.ndarray | None = None,
                 iterations: int = 20) -> np.ndarray:
    """As-rigid-as-possible flattening (local/global) of a disc-like chart.

    verts (V, 3) metres, faces (T, 3) -> uv (V, 2) metres. ``init`` (V, 2) is a
    flip-free starting map (default: Tutte embedding).
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    V = len(v)
    uv = tutte_embedding(f, V, v) if init is None else np.asarray(init, dtype=np.float64).copy()
    local = _local_frames(v, f)  # (T, 3, 2)
    cot = _cotangents(local)  # (T, 3); weight of edge opposite corner k
    # edge k: from corner (k+1) to (k+2), weight cot at corner k / 2
    I, J, W = [], [], []
    for k in range(3):
        a, b = f[:, (k + 1) % 3], f[:, (k + 2) % 3]
        w = 0.5 * cot[:, k]
        I += [a, b, a, b]
        J += [b, a, a, b]
        W += [-w, -w, w, w]
    L = sp.csr_matrix((np.concatenate(W), (np.concatenate(I), np.concatenate(J))), shape=(V, V))
    L = (L + 1e-9 * sp.identity(V)).tocsc()
    # pin one vertex to remove the translation freedom
    pin = 0
    keep = np.arange(V) != pin
    Lk = L[keep][:, keep].tocsc()
    solve = spla.splu(Lk)
    dx = [local[:, (k + 1) % 3] - local[:, (k + 2) % 3] for k in range(3)]  # rest edge vectors
    for _ in range(iterations):
        # local step: best rotation per triangle
        S = np.zeros((len(f), 2, 2))
        for k in range(3):
            a, b = f[:, (k + 1) % 3], f[:, (k + 2) % 3]
            du = uv[a] - uv[b]
            S += 0.5 * cot[:, k, None, None] * np.einsum("ti,tj->tij", du, dx[k])
        # closest rotation to each 2x2 S (closed form)
        ang = np.arctan2(S[:, 1, 0] - S[:, 0, 1], S[:, 0, 0] + S[:, 1, 1])
        c, s_ = np.cos(ang), np.sin(ang)
        R = np.stack([np.stack([c, -s_], 1), np.stack([s_, c], 1)], 1)
        # global step
        rhs = np.zeros((V, 2))
        for k in range(3):
            a, b = f[:, (k + 1) % 3], f[:, (k + 2) % 3]
            r = 0.5 * cot[:, k, None] * np.einsum("tij,tj->ti", R, dx[k])
            np.add.at(rhs, a, r)
            np.add.at(rhs, b, -r)
        rhs_k = rhs[keep] - np.outer(L[keep][:, pin].toarray().ravel(), uv[pin])
        uv[keep] = np.stack([solve.solve(rhs_k[:, 0]), solve.solve(rhs_k[:, 1])], 1)
    return uv


def flatten_panels(verts: np.ndarray, faces: np.ndarray, panel: np.ndarray, *, init_corners: np.ndarray | None = None,
                   iterations: int = 20) -> np.ndarray:
    """Per-corner pattern coordinates (T, 3, 2) metres: each panel (face label) flattened by ARAP.

    ``init_corners`` (T, 3, 2): optional flip-free per-corner starting map.
    The result is rotated so each panel's principal axis of the initial map is kept
    (patterns stay upright) and translated to start at its own origin.
    """
    out = np.zeros((len(faces), 3, 2))
    for p in np.unique(panel):
        fi = np.nonzero(panel == p)[0]
        sub = faces[fi]
        vid, inv = np.unique(sub, return_inverse=True)
        sf = inv.reshape(-1, 3)
        init = None
        if init_corners is not None:
            init = np.zeros((len(vid), 2))
            init[sf.reshape(-1)] = init_corners[fi].reshape(-1, 2)
        uv = flatten_arap(verts[vid], sf, init=init, iterations=iterations)
        if init is not None:
            # best rotation aligning the result with the initial map (keeps the grain upright)
            a = uv - uv.mean(0)
            b = init - init.mean(0)
            U, _, Vt = np.linalg.svd(a.T @ b)
            R = U @ Vt
            if np.linalg.det(R) < 0:
                U[:, 1] *= -1
                R = U @ Vt
            uv = a @ R + init.mean(0)
        out[fi] = uv[sf]
    return out
