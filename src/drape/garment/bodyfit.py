"""Body measurements and body proximity used to size, place and check garments.

Everything works on the rest-pose body in the rest frame (z-up, metres, facing -y,
left = +x, soles on z = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Bone-name groups of the cmu_mb rig.
ARM_BONES = ("Arm", "ForeArm", "Hand", "Thumb", "FingerBase", "HandFinger1")
LEG_BONES = ("UpLeg", "Leg", "Foot", "ToeBase")
HEAD_BONES = ("Neck", "Neck1", "Head")

PART_TRUNK, PART_ARM, PART_LEG, PART_HEAD = 0, 1, 2, 3


def bone_part(name: str) -> int:
    """Body part of a cmu_mb bone: trunk, arm, leg or head."""
    if name in HEAD_BONES:
        return PART_HEAD
    if name == "LThumb" or name == "RThumb":
        return PART_ARM
    for side in ("Left", "Right"):
        if name.startswith(side):
            rest = name[len(side):]
            if rest in ARM_BONES:
                return PART_ARM
            if rest in LEG_BONES:
                return PART_LEG
    return PART_TRUNK


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals of a triangle mesh."""
    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


class BodyProximity:
    """Fast approximate signed distance to a closed body mesh.

    The distance is measured to the tangent plane of the nearest body vertex
    (exact on flat patches, accurate to a fraction of a millimetre on the anny body
    whose vertex spacing is about a centimetre); positive outside.
    """

    def __init__(self, verts: np.ndarray, faces: np.ndarray):
        from scipy.spatial import cKDTree

        self.verts = np.asarray(verts, dtype=np.float64)
        self.faces = np.asarray(faces)
        self.normals = vertex_normals(self.verts, self.faces)
        self._tree = cKDTree(self.verts)

    def signed_distance(self, points: np.ndarray, *, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """points (P, 3) -> (signed distance (P,) metres, outward direction (P, 3))."""
        p = np.asarray(points, dtype=np.float64)
        dist, idx = self._tree.query(p, k=k)
        dist = np.atleast_2d(dist.T).T
        idx = np.atleast_2d(idx.T).T
        # inverse-distance blend of the nearest vertices' tangent planes
        w = 1.0 / np.maximum(dist, 1e-5) ** 2
        w /= w.sum(1, keepdims=True)
        n = np.einsum("pk,pkc->pc", w, self.normals[idx])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        base = np.einsum("pk,pkc->pc", w, self.verts[idx])
        d = np.einsum("pc,pc->p", p - base, n)
        return d, n

    def exact_signed_distance(self, points: np.ndarray) -> np.ndarray:
        """(P,) metres: exact distance to the nearest body triangle, negative inside
        (:func:`drape.geometry.distance.signed_distance`)."""
        from drape.geometry.distance import signed_distance

        return signed_distance(points, self.verts, self.faces)

    def inside(self, points: np.ndarray) -> np.ndarray:
        """(P,) bool: points inside the body."""
        return self.signed_distance(points)[0] < 0


@dataclass
class FrontRaster:
    """The body seen from the front (-y), rasterized on an (x, z) grid.

    ``part`` masks say which pixels any triangle of that body part covers;
    ``ymin``/``ymax`` are the body's nearest and farthest y per pixel (inf where empty).
    """

    x0: float
    z0: float
    pixel: float
    masks: dict  # part id -> (Nz, Nx) bool
    ymin: np.ndarray  # (Nz, Nx) float64 metres
    ymax: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.ymin.shape

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """(X, Z) pixel-centre coordinates, each (Nz, Nx)."""
        nz, nx = self.shape
        xs = self.x0 + self.pixel * np.arange(nx)
        zs = self.z0 + self.pixel * np.arange(nz)
        return np.meshgrid(xs, zs)

    def sample(self, img: np.ndarray, x: np.ndarray, z: np.ndarray, *, order: int = 1) -> np.ndarray:
        """Interpolate an image at points (x, z) metres."""
        from scipy.ndimage import map_coordinates

        r = (np.asarray(z) - self.z0) / self.pixel
        c = (np.asarray(x) - self.x0) / self.pixel
        return map_coordinates(img, [r, c], order=order, mode="nearest")


def front_raster(verts: np.ndarray, faces: np.ndarray, vert_part: np.ndarray, *, pixel: float = 0.004,
                 select: np.ndarray | None = None) -> FrontRaster:
    """Rasterize the body's frontal projection per part, with depth bounds.

    ``select`` (V,) bool limits the vertices taken into the part masks (the depth
    bounds always use the whole body).
    """
    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces)
    lo = v.min(0) - 0.1
    hi = v.max(0) + 0.1
    nx = int(np.ceil((hi[0] - lo[0]) / pixel)) + 1
    nz = int(np.ceil((hi[2] - lo[2]) / pixel)) + 1
    # sample each triangle densely enough that every covered pixel gets a sample
    tri = v[f]  # (T, 3, 3)
    edge = np.linalg.norm(tri[:, [1, 2, 0]] - tri, axis=2).max(1)
    need = np.maximum(2, np.ceil(edge / (0.7 * pixel))).astype(np.int64)
    ymin = np.full(nz * nx, np.inf)
    ymax = np.full(nz * nx, -np.inf)
    rows, cols, fids = [], [], []
    for n in np.unique(2 ** np.ceil(np.log2(need)).astype(np.int64)):
        sel = np.nonzero((2 ** np.ceil(np.log2(need)).astype(np.int64)) == n)[0]
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = (i + j) <= n
        bary = np.stack([i[keep], j[keep], n - i[keep] - j[keep]], 1) / n  # (S, 3)
        pts = np.einsum("sk,tkc->tsc", bary, tri[sel])  # (t, S, 3)
        col = np.clip(np.round((pts[..., 0] - lo[0]) / pixel).astype(np.int64), 0, nx - 1)
        row = np.clip(np.round((pts[..., 2] - lo[2]) / pixel).astype(np.int64), 0, nz - 1)
        flat = (row * nx + col).reshape(-1)
        y = pts[..., 1].reshape(-1)
        np.minimum.at(ymin, flat, y)
        np.maximum.at(ymax, flat, y)
        rows.append(row.reshape(-1))
        cols.append(col.reshape(-1))
        fids.append(np.repeat(sel, pts.shape[1]))
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    fid = np.concatenate(fids)
    # each triangle's part: the majority of its corners
    fp = np.asarray(vert_part)[f]
    face_part = np.where(fp[:, 0] == fp[:, 1], fp[:, 0], np.where(fp[:, 1] == fp[:, 2], fp[:, 1], fp[:, 2]))
    face_sel = np.ones(len(f), bool) if select is None else np.asarray(select)[f].all(1)
    masks = {}
    for part in (PART_TRUNK, PART_ARM, PART_LEG, PART_HEAD):
        m = np.zeros(nz * nx, bool)
        sel = ((face_part == part) & face_sel)[fid]
        m[row[sel] * nx + col[sel]] = True
        masks[part] = m.reshape(nz, nx)
    return FrontRaster(float(lo[0]), float(lo[2]), pixel, masks, ymin.reshape(nz, nx), ymax.reshape(nz, nx))


@dataclass
class BodyMeasures:
    """Sizes of the rest-pose body (metres, rest frame)."""

    height: float
    z_knee: float
    z_ankle: float
    z_hip_joint: float
    z_crotch: float
    z_waist: float
    z_chest: float
    z_neck: float
    z_shoulder: float
    chest_girth: float
    waist_girth: float
    hip_girth: float
    neck_halfwidth: float
    shoulder_joint: np.ndarray  # (3,) left shoulder (LeftArm head)
    elbow: np.ndarray  # (3,) left elbow (LeftForeArm head)
    upper_arm_length: float


def _convex_girth(points2d: np.ndarray) -> float:
    from scipy.spatial import ConvexHull

    if len(points2d) < 3:
        return 0.0
    hull = ConvexHull(points2d)
    ring = points2d[hull.vertices]
    return float(np.linalg.norm(ring - np.roll(ring, 1, 0), axis=1).sum())


def slice_points(verts: np.ndarray, faces: np.ndarray, z: float) -> np.ndarray:
    """(K, 3) points where the mesh's edges cross the plane at height z."""
    v = np.asarray(verts, dtype=np.float64)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    a, b = v[e[:, 0]], v[e[:, 1]]
    cross = (a[:, 2] - z) * (b[:, 2] - z) < 0
    a, b = a[cross], b[cross]
    t = (z - a[:, 2]) / (b[:, 2] - a[:, 2])
    return a + (b - a) * t[:, None]


def vertex_parts(body) -> np.ndarray:
    """(V,) int part id (trunk, arm, leg, head) of each body vertex by its skinning weights."""
    parts = np.array([bone_part(n) for n in body.bone_names])
    W = body.skin_weights
    sums = np.stack([W[:, parts == p].sum(1) for p in range(4)], 1)
    return sums.argmax(1)


def measure_body(body) -> BodyMeasures:
    """Measure girths (convex-hull tape measure of trunk slices) and key heights."""
    v = body.rest_verts.astype(np.float64)
    f = body.faces
    heads = body.rest_bone_heads.astype(np.float64)
    bi = body.bone_index
    part = vertex_parts(body)
    trunk_leg = (part == PART_TRUNK) | (part == PART_LEG)
    # slices keep only crossings on trunk/leg triangles (no arms or hands)
    fmask = trunk_leg[f].all(1)
    ft = f[fmask]

    def girth(z):
        pts = slice_points(v, ft, z)
        return _convex_girth(pts[:, :2]) if len(pts) >= 3 else 0.0

    z_hipj = float(heads[bi("LeftUpLeg"), 2])
    z_spine1 = float(heads[bi("Spine1"), 2])
    z_lowback = float(heads[bi("LowerBack"), 2])
    # waist: narrowest trunk slice between the LowerBack head and Spine1
    zs = np.linspace(z_lowback, z_spine1, 12)
    g = np.array([girth(z) for z in zs])
    z_waist = float(zs[g.argmin()])
    # hip: widest slice between the crotch region and the waist
    zh = np.linspace(z_hipj - 0.10, z_hipj + 0.05, 10)
    gh = np.array([girth(z) for z in zh])
    # chest: widest slice between Spine1 and the armpit (arms excluded)
    zc = np.linspace(z_spine1 - 0.05, heads[bi("LeftArm"), 2] - 0.06, 10)
    gc = np.array([girth(z) for z in zc])
    # crotch: lowest trunk-or-leg point near the mid-plane
    near = trunk_leg & (np.abs(v[:, 0]) < 0.012) & (v[:, 2] > 0.3) & (v[:, 2] < z_hipj)
    z_crotch = float(v[near, 2].min()) if near.any() else z_hipj - 0.08
    neck = (part == PART_HEAD) & (np.abs(v[:, 2] - heads[bi("Neck"), 2] - 0.03) < 0.02)
    neck_hw = float(np.abs(v[neck, 0]).max()) if neck.any() else 0.06
    sj = heads[bi("LeftArm")]
    el = heads[bi("LeftForeArm")]
    return BodyMeasures(
        height=float(v[:, 2].max()),
        z_knee=float(heads[bi("LeftLeg"), 2]),
        z_ankle=float(heads[bi("LeftFoot"), 2]),
        z_hip_joint=z_hipj,
        z_crotch=z_crotch,
        z_waist=z_waist,
        z_chest=float(zc[gc.argmax()]),
        z_neck=float(heads[bi("Neck"), 2]),
        z_shoulder=float(sj[2]),
        chest_girth=float(gc.max()),
        waist_girth=float(g.min()),
        hip_girth=float(gh.max()),
        neck_halfwidth=neck_hw,
        shoulder_joint=sj,
        elbow=el,
        upper_arm_length=float(np.linalg.norm(el - sj)),
    )
