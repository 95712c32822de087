"""Garment files: import user garments (OBJ, glTF/GLB, USD), save and load drape garments.

An imported garment must be given in the body's rest frame (placed around the
rest-pose body). Units and up axis can be stated or guessed. The file's own UVs
become the sewing pattern when present (each UV island is a panel, scaled so its
area matches the 3D area); otherwise the mesh is cut into charts and flattened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drape.types import BodyShape, Garment

from . import pattern as pat
from .atlas import pack_atlas
from .errors import GarmentError

FORMAT_NAME = "drape.garment"
FORMAT_VERSION = 1

UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}
MAX_SIZE = 4.0
"""Metres: the largest bounding-box diagonal accepted for a garment."""
MIN_SIZE = 0.1


@dataclass
class RawMesh:
    """A mesh as read from a file (file units and axes)."""

    verts: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (T, 3) int64
    corner_uv: np.ndarray | None  # (T, 3, 2) float64 or None
    meters_per_unit: float | None = None
    up_axis: str | None = None


# ---------------------------------------------------------------------------- readers
def read_obj(path: Path) -> RawMesh:
    """Wavefront OBJ: v, vt and f records (polygons fan-triangulated, negative indices allowed)."""
    verts, uvs, faces, fuv = [], [], [], []
    any_uv = True
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            tag = parts[0]
            try:
                if tag == "v":
                    verts.append([float(x) for x in parts[1:4]])
                    if len(verts[-1]) != 3:
                        raise ValueError("expected 3 coordinates")
                elif tag == "vt":
                    uvs.append([float(x) for x in parts[1:3]])
                elif tag == "f":
                    idx, tidx = [], []
                    for item in parts[1:]:
                        fields = item.split("/")
                        vi = int(fields[0])
                        idx.append(vi - 1 if vi > 0 else len(verts) + vi)
                        if len(fields) > 1 and fields[1]:
                            ti = int(fields[1])
                            tidx.append(ti - 1 if ti > 0 else len(uvs) + ti)
                    if len(idx) < 3:
                        raise ValueError(f"a face needs at least 3 vertices, got {len(idx)}")
                    has_uv = len(tidx) == len(idx)
                    any_uv = any_uv and has_uv
                    for k in range(1, len(idx) - 1):
                        faces.append([idx[0], idx[k], idx[k + 1]])
                        fuv.append([tidx[0], tidx[k], tidx[k + 1]] if has_uv else [0, 0, 0])
            except (ValueError, IndexError) as exc:
                raise GarmentError(f"{path} line {lineno}: cannot read {tag!r} record: {exc}") from None
    v = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise GarmentError(f"{path}: face indices must lie in [1, {len(v)}], got [{f.min() + 1}, {f.max() + 1}]")
    corner_uv = None
    if any_uv and uvs and len(f):
        t = np.asarray(fuv, dtype=np.int64)
        if t.min() < 0 or t.max() >= len(uvs):
            raise GarmentError(f"{path}: texture indices must lie in [1, {len(uvs)}]")
        corner_uv = np.asarray(uvs, dtype=np.float64)[t]
    return RawMesh(v, f, corner_uv)


def read_gltf(path: Path) -> RawMesh:
    """glTF 2.0 / GLB (every mesh primitive, node transforms applied; glTF is y-up, metres)."""
    try:
        import trimesh
    except ImportError:  # pragma: no cover
        raise GarmentError(f"{path}: reading glTF needs the 'trimesh' package") from None
    try:
        scene = trimesh.load(str(path), force="scene", process=False)
    except Exception as exc:  # trimesh raises many kinds
        raise GarmentError(f"{path}: not a readable glTF file ({exc})") from None
    verts, faces, cuv = [], [], []
    off = 0
    all_uv = True
    for node in scene.graph.nodes_geometry:
        T, geom_name = scene.graph[node]
        geom = scene.geometry[geom_name]
        if not hasattr(geom, "faces") or len(geom.faces) == 0:
            continue
        v = np.asarray(geom.vertices, dtype=np.float64)
        v = v @ T[:3, :3].T + T[:3, 3]
        f = np.asarray(geom.faces, dtype=np.int64)
        uv = getattr(geom.visual, "uv", None)
        if uv is not None and len(uv) == len(v):
            cuv.append(np.asarray(uv, dtype=np.float64)[f])
        else:
            all_uv = False
        verts.append(v)
        faces.append(f + off)
        off += len(v)
    if not verts:
        return RawMesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), None, 1.0, "y")
    return RawMesh(np.concatenate(verts), np.concatenate(faces), np.concatenate(cuv) if all_uv and cuv else None,
                   1.0, "y")


def read_usd(path: Path) -> RawMesh:
    """USD (usd, usda, usdc, usdz): every UsdGeom.Mesh, world transforms, ``st`` primvar, stage units and up axis."""
    try:
        from pxr import Usd, UsdGeom
    except ImportError:  # pragma: no cover
        raise GarmentError(f"{path}: reading USD needs the 'usd-core' package (pip install usd-core)") from None
    stage = Usd.Stage.Open(str(path))
    if stage is None:
        raise GarmentError(f"{path}: not a readable USD file")
    mpu = float(UsdGeom.GetStageMetersPerUnit(stage))
    up = str(UsdGeom.GetStageUpAxis(stage)).lower()
    verts, faces, cuv = [], [], []
    off = 0
    all_uv = True
    for prim in stage.Traverse():
        if not prim.IsA(UsdGeom.Mesh):
            continue
        mesh = UsdGeom.Mesh(prim)
        pts = mesh.GetPointsAttr().Get()
        counts = mesh.GetFaceVertexCountsAttr().Get()
        idx = mesh.GetFaceVertexIndicesAttr().Get()
        if pts is None or counts is None or idx is None:
            continue
        v = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
        M = np.asarray(UsdGeom.Xformable(prim).ComputeLocalToWorldTransform(Usd.TimeCode.Default()), dtype=np.float64)
        v = v @ M[:3, :3] + M[3, :3]  # USD matrices are row-vector convention
        counts = np.asarray(counts, dtype=np.int64)
        idx = np.asarray(idx, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        tri_corner = []  # (T, 3) positions into the face-vertex list
        for s, c in zip(starts, counts):
            for k in range(1, c - 1):
                tri_corner.append([s, s + k, s + k + 1])
        tri_corner = np.asarray(tri_corner, dtype=np.int64).reshape(-1, 3)
        f = idx[tri_corner]
        if mesh.GetOrientationAttr().Get() == UsdGeom.Tokens.leftHanded:
            f = f[:, [0, 2, 1]]
            tri_corner = tri_corner[:, [0, 2, 1]]
        uv = None
        pv = UsdGeom.PrimvarsAPI(prim)
        for nm in ("st", "UVMap", "uv", "st0"):
            if pv.HasPrimvar(nm):
                primvar = pv.GetPrimvar(nm)
                vals = primvar.ComputeFlattened()
                if vals is None:
                    continue
                vals = np.asarray(vals, dtype=np.float64).reshape(-1, 2)
                interp = primvar.GetInterpolation()
                if interp == UsdGeom.Tokens.faceVarying and len(vals) == len(idx):
                    uv = vals[tri_corner]
                elif interp in (UsdGeom.Tokens.vertex, UsdGeom.Tokens.varying) and len(vals) == len(v):
                    uv = vals[f]
                break
        if uv is None:
            all_uv = False
        else:
            cuv.append(uv)
        verts.append(v)
        faces.append(f + off)
        off += len(v)
    if not verts:
        return RawMesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), None, mpu, up)
    return RawMesh(np.concatenate(verts), np.concatenate(faces), np.concatenate(cuv) if all_uv and cuv else None,
                   mpu, up)


def read_mesh(path: str | Path) -> RawMesh:
    """Read OBJ, glTF/GLB or USD by extension."""
    path = Path(path)
    if not path.is_file():
        raise GarmentError(f"{path}: file not found")
    ext = path.suffix.lower()
    if ext == ".obj":
        return read_obj(path)
    if ext in (".gltf", ".glb"):
        return read_gltf(path)
    if ext in (".usd", ".usda", ".usdc", ".usdz"):
        return read_usd(path)
    raise GarmentError(f"{path}: unsupported garment format {ext!r}; expected .obj, .gltf, .glb, .usd, .usda, .usdc or .usdz")


# ---------------------------------------------------------------------------- checks
def weld_by_position(verts: np.ndarray, faces: np.ndarray, *, tol: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices closer than ``tol`` (formats that split vertices at UV seams)."""
    if len(verts) == 0:
        return verts, faces
    key = np.round(verts / tol).astype(np.int64)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    # keep the original order of first appearance
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    new_verts = verts[first[order]]
    return new_verts, rank[inv][faces]


def check_mesh(verts: np.ndarray, faces: np.ndarray, *, source: str, min_area: float = 1e-10) -> None:
    """Raise :class:`GarmentError` for empty meshes, NaNs, degenerate triangles, non-manifold edges."""
    if len(verts) == 0 or len(faces) == 0:
        raise GarmentError(f"{source}: the mesh is empty ({len(verts)} vertices, {len(faces)} triangles)")
    if not np.isfinite(verts).all():
        bad = int((~np.isfinite(verts)).any(1).sum())
        raise GarmentError(f"{source}: {bad} vertices have NaN or infinite coordinates")
    same = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    area = pat.triangle_areas(verts, faces)
    degen = same | (area <= min_area)
    if degen.any():
        i = int(np.nonzero(degen)[0][0])
        raise GarmentError(f"{source}: {int(degen.sum())} degenerate triangles (zero area), first is triangle {i}"
                           f" with vertices {faces[i].tolist()}")
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    key, cnt = np.unique(np.sort(e, 1), axis=0, return_counts=True)
    nm = cnt > 2
    if nm.any():
        raise GarmentError(f"{source}: {int(nm.sum())} non-manifold edges (shared by more than 2 triangles),"
                           f" first is between vertices {key[nm][0].tolist()}")


def _orient_consistently(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip triangles so neighbours agree (breadth-first over shared edges); returns (faces, flipped (T,) bool)."""
    from collections import deque

    T = len(faces)
    f = faces.copy()
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    owner = np.tile(np.arange(T), 3)
    key = np.sort(e, 1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    ks = key[order]
    same = np.all(ks[1:] == ks[:-1], axis=1)
    adj = [[] for _ in range(T)]
    for i in np.nonzero(same)[0]:
        a, b = owner[order[i]], owner[order[i + 1]]
        adj[a].append(b)
        adj[b].append(a)
    seen = np.zeros(T, bool)
    flipped = np.zeros(T, bool)

    def directed(t):
        return {(f[t, 0], f[t, 1]), (f[t, 1], f[t, 2]), (f[t, 2], f[t, 0])}

    for s in range(T):
        if seen[s]:
            continue
        seen[s] = True
        q = deque([s])
        while q:
            t = q.popleft()
            dt = directed(t)
            for n in adj[t]:
                if seen[n]:
                    continue
                if dt & directed(n):  # same direction on the shared edge: flip n
                    f[n] = f[n, [0, 2, 1]]
                    flipped[n] = True
                seen[n] = True
                q.append(n)
    return f, flipped


# ---------------------------------------------------------------------------- panels
def uv_islands(faces: np.ndarray, corner_uv: np.ndarray, *, tol: float = 1e-6) -> np.ndarray:
    """(T,) island id: triangles joined across an edge when both its corners carry the same UVs."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    T = len(faces)
    rows, cols = [], []
    recs = []
    for k in range(3):
        a, b = faces[:, k], faces[:, (k + 1) % 3]
        ua, ub = corner_uv[:, k], corner_uv[:, (k + 1) % 3]
        lo = np.minimum(a, b)
        swap = a > b
        u_lo = np.where(swap[:, None], ub, ua)
        u_hi = np.where(swap[:, None], ua, ub)
        recs.append(np.concatenate([lo[:, None], np.maximum(a, b)[:, None],
                                    np.round(u_lo / tol), np.round(u_hi / tol)], 1).astype(np.int64))
    rec = np.concatenate(recs)
    owner = np.tile(np.arange(T), 3)
    _, inv = np.unique(rec, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(inv, kind="stable")
    s = inv[order]
    pair = np.nonzero(s[1:] == s[:-1])[0]
    rows = owner[order[pair]]
    cols = owner[order[pair + 1]]
    G = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(T, T))
    _, lab = connected_components(G, directed=False)
    return lab


def _chart_split(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(T,) chart id for meshes without UVs: connected components, cut by normal direction when not discs."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    def components(mask_faces_ids, label_of_face=None):
        sub = faces[mask_faces_ids]
        e = np.concatenate([sub[:, [0, 1]], sub[:, [1, 2]], sub[:, [2, 0]]])
        key = np.sort(e, 1)
        own = np.tile(np.arange(len(sub)), 3)
        _, inv = np.unique(key, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        order = np.argsort(inv, kind="stable")
        s = inv[order]
        pair = np.nonzero(s[1:] == s[:-1])[0]
        G = sp.coo_matrix((np.ones(len(pair)), (own[order[pair]], own[order[pair + 1]])), shape=(len(sub), len(sub)))
        return connected_components(G, directed=False)[1]

    def is_disc(fids):
        sub = faces[fids]
        V = len(np.unique(sub))
        E = len(pat.edges_of(sub))
        return V - E + len(sub) == 1 and len(pat.boundary_loops(sub)) == 1

    all_ids = np.arange(len(faces))
    lab = components(all_ids)
    out = np.zeros(len(faces), np.int64)
    nxt = 0
    n = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-15)
    adj = _face_adjacency(faces)
    levels = [
        np.array([[0, 1.0, 0], [0, -1.0, 0]]),  # front / back
        np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]]),
        np.array([[np.cos(a), np.sin(a), 0.0] for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)]
                 + [[0, 0, 1.0], [0, 0, -1.0]]),
    ]
    for c in np.unique(lab):
        fids = np.nonzero(lab == c)[0]
        if is_disc(fids):
            out[fids] = nxt
            nxt += 1
            continue
        for li, dirs in enumerate(levels):
            cluster = (n @ dirs.T).argmax(1)
            # a few majority votes over neighbours remove speckles
            for _ in range(4):
                votes = np.zeros((len(faces), len(dirs)))
                for k in range(len(dirs)):
                    votes[:, k] = adj @ (cluster == k).astype(np.float64)
                votes[np.arange(len(faces)), cluster] += 0.5
                cluster = votes.argmax(1)
            pieces = []
            for k in np.unique(cluster[fids]):
                sub = fids[cluster[fids] == k]
                sl = components(sub)
                pieces += [sub[sl == j] for j in np.unique(sl)]
            if all(is_disc(pc) for pc in pieces) or li == len(levels) - 1:
                break
        for pc in pieces:
            out[pc] = nxt
            nxt += 1
    return out


def _face_adjacency(faces: np.ndarray):
    """(T, T) sparse 0/1 matrix of triangles sharing an edge."""
    import scipy.sparse as sp

    T = len(faces)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    own = np.tile(np.arange(T), 3)
    _, inv = np.unique(np.sort(e, 1), axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(inv, kind="stable")
    s = inv[order]
    pair = np.nonzero(s[1:] == s[:-1])[0]
    a, b = own[order[pair]], own[order[pair + 1]]
    A = sp.coo_matrix((np.ones(2 * len(a)), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(T, T))
    return A.tocsr()


def panels_from_uv(verts: np.ndarray, faces: np.ndarray, corner_uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(panel_uv (T, 3, 2) metres, panel id (T,)) from the file's UVs: islands scaled to 3D area."""
    lab = uv_islands(faces, corner_uv)
    out = np.zeros_like(corner_uv)
    a3 = pat.triangle_areas(verts, faces)
    a2 = pat.corner_areas(corner_uv)
    for p in np.unique(lab):
        sel = lab == p
        uv = corner_uv[sel].copy()
        s2 = a2[sel].sum()
        if s2 < 0:  # mirrored island
            uv[..., 0] *= -1
            s2 = -s2
        scale = np.sqrt(a3[sel].sum() / max(s2, 1e-30))
        out[sel] = uv * scale
    return out, lab


def panels_by_flattening(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(panel_uv (T, 3, 2) metres, panel id (T,)): charts flattened by ARAP."""
    lab = _chart_split(verts, faces)
    return pat.flatten_panels(verts, faces, lab, iterations=20), lab


# ---------------------------------------------------------------------------- import
def _axis_transform(up: str) -> np.ndarray:
    if up == "z":
        return np.eye(3)
    if up == "y":  # y-up, facing +z  ->  z-up, facing -y
        return np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    raise GarmentError(f"up axis: expected 'z', 'y' or 'auto', got {up!r}")


def import_garment(path: str | Path, *, body_shape: BodyShape | None = None, units: str = "auto", up: str = "auto",
                   name: str | None = None, kind: str = "custom", max_inside: float = 0.02,
                   check_body: bool = True) -> Garment:
    """Import a garment mesh placed around the rest-pose body (rest frame).

    units: ``m``, ``cm``, ``mm`` or ``auto`` (file metadata, else guessed from the size).
    up: ``z``, ``y`` or ``auto`` (file metadata: glTF is y-up, USD states it; OBJ is guessed
    by which axis puts the garment on the body). max_inside: the largest fraction of
    vertices allowed inside the body. check_body: False skips the body checks (no anny needed).
    """
    path = Path(path)
    src = str(path)
    raw = read_mesh(path)
    if len(raw.verts) == 0 or len(raw.faces) == 0:
        raise GarmentError(f"{src}: the mesh is empty ({len(raw.verts)} vertices, {len(raw.faces)} triangles)")
    if not np.isfinite(raw.verts).all():
        bad = int((~np.isfinite(raw.verts)).any(1).sum())
        raise GarmentError(f"{src}: {bad} vertices have NaN or infinite coordinates")
    # units
    diag = float(np.linalg.norm(raw.verts.max(0) - raw.verts.min(0)))
    if units == "auto":
        if raw.meters_per_unit is not None and raw.meters_per_unit > 0:
            scale = raw.meters_per_unit
        else:
            scale = next((s for s in (1.0, 0.01, 0.001) if MIN_SIZE <= diag * s <= MAX_SIZE), None)
            if scale is None:
                raise GarmentError(f"{src}: cannot guess units: bounding-box diagonal is {diag:.4g} file units,"
                                   f" which is no human garment in m, cm or mm; pass units explicitly")
    elif units in UNIT_SCALE:
        scale = UNIT_SCALE[units]
    else:
        raise GarmentError(f"units: expected one of m, cm, mm, auto; got {units!r}")
    size = diag * scale
    if not (MIN_SIZE <= size <= MAX_SIZE):
        hint = next((u for u, s in UNIT_SCALE.items() if MIN_SIZE <= diag * s <= MAX_SIZE), None)
        raise GarmentError(f"{src}: unit mismatch: the bounding-box diagonal is {size:.3g} m in {units if units != 'auto' else 'file'} units,"
                           f" expected {MIN_SIZE}-{MAX_SIZE} m for a human garment"
                           + (f"; did you mean units={hint!r}?" if hint else ""))
    verts = raw.verts * scale
    faces = raw.faces.astype(np.int64)
    verts, faces = weld_by_position(verts, faces, tol=1e-7)
    check_mesh(verts, faces, source=src)
    faces, flipped = _orient_consistently(faces)
    ctx = None
    if check_body:
        from .templates import _body_context

        ctx = _body_context(body_shape)
    # up axis
    if up == "auto":
        if raw.up_axis in ("y", "z"):
            up = raw.up_axis
        elif ctx is not None:
            up = max(("z", "y"), key=lambda u: _overlap(verts @ _axis_transform(u).T, ctx["body"].rest_verts))
        else:
            up = "z"
    verts = verts @ _axis_transform(up).T
    corner_uv = raw.corner_uv
    if corner_uv is not None and corner_uv.shape != (len(faces), 3, 2):
        corner_uv = None
    if corner_uv is not None:
        corner_uv = np.where(flipped[:, None, None], corner_uv[:, [0, 2, 1]], corner_uv)
    if check_body:
        prox = ctx["proximity"]
        d, _ = prox.signed_distance(verts)
        frac = float((d < 0).mean())
        if frac > max_inside:
            raise GarmentError(f"{src}: {100 * frac:.1f}% of the vertices start inside the body (at most"
                               f" {100 * max_inside:.1f}% allowed); the garment must be placed around the rest-pose"
                               f" body in metres, z-up (check units and up axis)")
        # normals away from the body
        c = verts[faces].mean(1)
        n = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
        dc, nb = prox.signed_distance(c)
        if float((np.einsum("tc,tc->t", n, nb) * pat.triangle_areas(verts, faces)).sum()) < 0:
            faces = faces[:, [0, 2, 1]]
            if corner_uv is not None:
                corner_uv = corner_uv[:, [0, 2, 1]]
    if corner_uv is not None and np.isfinite(corner_uv).all():
        panel_uv, lab = panels_from_uv(verts, faces, corner_uv)
        pattern_from = "uv"
    else:
        panel_uv, lab = panels_by_flattening(verts, faces)
        pattern_from = "flattened"
    atlas = pack_atlas(panel_uv, lab)
    meta = {"source": src, "units_scale": scale, "up": up, "pattern_from": pattern_from,
            "panel_count": int(len(np.unique(lab)))}
    return Garment(name=name or path.stem, verts=verts.astype(np.float32), faces=faces.astype(np.int32),
                   panel_uv=panel_uv.astype(np.float32), atlas_uv=atlas.astype(np.float32),
                   pinned=np.zeros(0, np.int32), kind=kind, meta=meta)


def _overlap(verts: np.ndarray, body_verts: np.ndarray) -> float:
    """Fraction of garment vertices inside the body's slightly enlarged bounding box."""
    lo = body_verts.min(0) - 0.1
    hi = body_verts.max(0) + 0.1
    return float(np.all((verts >= lo) & (verts <= hi), axis=1).mean())


# ---------------------------------------------------------------------------- drape's own format
def save_garment(garment: Garment, path: str | Path) -> None:
    """Write a garment as ``.npz`` (format ``drape.garment`` version 1)."""
    path = Path(path)
    np.savez_compressed(
        path,
        format=np.array(FORMAT_NAME),
        version=np.array(FORMAT_VERSION),
        name=np.array(garment.name),
        kind=np.array(garment.kind),
        verts=np.asarray(garment.verts, np.float32),
        faces=np.asarray(garment.faces, np.int32),
        panel_uv=np.asarray(garment.panel_uv, np.float32),
        atlas_uv=np.asarray(garment.atlas_uv, np.float32),
        pinned=np.asarray(garment.pinned, np.int32),
        meta=np.array(json.dumps(garment.meta, default=_json_default)),
    )


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def load_garment(path: str | Path) -> Garment:
    """Read a garment written by :func:`save_garment` (format name and version checked)."""
    path = Path(path)
    if not path.is_file():
        raise GarmentError(f"{path}: file not found")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise GarmentError(f"{path}: not a drape garment file ({exc})") from None
    with data:
        if "format" not in data.files or str(data["format"]) != FORMAT_NAME:
            got = str(data["format"]) if "format" in data.files else "none"
            raise GarmentError(f"{path}: expected format {FORMAT_NAME!r}, got {got!r}")
        ver = int(data["version"])
        if ver != FORMAT_VERSION:
            raise GarmentError(f"{path}: {FORMAT_NAME} version {ver} is not supported (expected {FORMAT_VERSION})")
        return Garment(name=str(data["name"]), verts=data["verts"], faces=data["faces"], panel_uv=data["panel_uv"],
                       atlas_uv=data["atlas_uv"], pinned=data["pinned"], kind=str(data["kind"]),
                       meta=json.loads(str(data["meta"])))


def write_obj(garment: Garment, path: str | Path, *, uv: str = "atlas") -> None:
    """Write the garment's mesh as OBJ with per-corner texture coordinates (``atlas`` or ``pattern`` metres)."""
    path = Path(path)
    t = np.asarray(garment.atlas_uv if uv == "atlas" else garment.panel_uv, dtype=np.float64).reshape(-1, 2)
    f = np.asarray(garment.faces, dtype=np.int64)
    lines = [f"# drape garment {garment.name} ({garment.kind}), metres, z-up\n"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in np.asarray(garment.verts, dtype=np.float64)]
    lines += [f"vt {u:.6f} {v:.6f}\n" for u, v in t]
    k = np.arange(len(f) * 3).reshape(-1, 3) + 1
    lines += [f"f {a}/{ka} {b}/{kb} {c}/{kc}\n" for (a, b, c), (ka, kb, kc) in zip(f + 1, k)]
    path.write_text("".join(lines))
