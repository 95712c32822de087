"""Garment library: sewing patterns sized to the body and placed around its rest pose.

Each template draws its outline in the body's frontal plane from measurements of
the rest-pose body (the dilated silhouette of the parts it covers, cut by hem,
waist, cuff and neckline lines), triangulates it once for a front and a back
panel sewn along the seams (see :mod:`drape.garment.pattern`), lifts the panels
around the body at a clearance, relaxes them and flattens every panel into its
2D pattern piece.

Parameters shared by all templates:

- ``length``: metres from the garment's top (waist for skirts, trousers and
  shorts; the base of the neck for shirts and dresses) down to the hem.
- ``ease``: looseness as a fraction of the body girth (0.1 = 10 % wider than the body).
- ``vert_count``: target number of vertices (the result is within about 10 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drape.types import BodyShape, Garment

from . import pattern as pat
from .errors import GarmentError
from .bodyfit import PART_ARM, PART_LEG, PART_TRUNK, BodyProximity, front_raster, measure_body, vertex_parts

# open-edge tags
SEAM, HEM, WAIST, CUFF_L, CUFF_R, NECK = 0, 1, 2, 3, 4, 5
TAG_NAMES = {HEM: "hem", WAIST: "waist", CUFF_L: "left cuff", CUFF_R: "right cuff", NECK: "neckline"}

CLEARANCE = 0.012
"""Metres between the skin and the placed cloth (before ease)."""


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    kind: str
    description: str
    defaults: dict


_LIBRARY = (
    TemplateInfo("tshirt", "tshirt", "fitted T-shirt, short sleeves along the A-pose arms, hip length",
                 {"length": None, "ease": 0.08, "vert_count": 4500, "sleeve": 0.45}),
    TemplateInfo("skirt", "skirt", "flared skirt from the waist to about the knee, pinned waistband",
                 {"length": None, "ease": 0.04, "vert_count": 4500, "flare": 0.35, "yoke": 0.0}),
    TemplateInfo("dress", "dress", "long dress with cap sleeves, from the shoulders to below the knee",
                 {"length": None, "ease": 0.06, "vert_count": 6000, "sleeve": 0.25, "flare": 0.3}),
    TemplateInfo("trousers", "trousers", "straight trousers from the waist to the ankles, pinned waistband",
                 {"length": None, "ease": 0.06, "vert_count": 5000}),
    TemplateInfo("shorts", "shorts", "shorts from the waist to mid-thigh, pinned waistband",
                 {"length": None, "ease": 0.06, "vert_count": 3000}),
)


def garment_library() -> list[tuple[str, str, str, dict]]:
    """(name, kind, description, default parameters) for every library garment."""
    return [(t.name, t.kind, t.description, dict(t.defaults)) for t in _LIBRARY]


def _template(name: str) -> TemplateInfo:
    for t in _LIBRARY:
        if t.name == name:
            return t
    raise GarmentError(f"garment {name!r}: unknown; the library has {', '.join(t.name for t in _LIBRARY)}")


_BODIES: dict = {}


def _body_context(body_shape: BodyShape | None):
    """Body, measurements, frontal raster and proximity for a shape (memoized per process)."""
    from drape.body.model import Body

    shape = body_shape or BodyShape()
    key = shape.key()
    if key not in _BODIES:
        body = Body(shape)
        parts = vertex_parts(body)
        ctx = {
            "body": body,
            "parts": parts,
            "measures": measure_body(body),
            "raster": front_raster(body.rest_verts, body.faces, parts),
            "proximity": BodyProximity(body.rest_verts, body.faces),
        }
        _BODIES.clear()  # keep one body at a time; they are large
        _BODIES[key] = ctx
    return _BODIES[key]


def make_garment(name: str, *, body_shape: BodyShape | None = None, vert_count: int = 4500,
                 length: float | None = None, ease: float | None = None, **params) -> Garment:
    """Build a library garment sized to ``body_shape`` and placed around its rest pose.

    name: one of :func:`garment_library`'s names. ``length`` metres (None: the template's
    default for this body), ``ease`` fraction of girth (None: template default),
    ``vert_count`` target vertices. Extra keyword parameters (``sleeve``, ``flare``) override
    template defaults.
    """
    info = _template(name)
    if not (100 <= int(vert_count) <= 100_000):
        raise GarmentError(f"garment {name}: vert_count must be in [100, 100000], got {vert_count}")
    for k in params:
        if k not in info.defaults or k in ("length", "ease", "vert_count"):
            raise GarmentError(f"garment {name}: unknown parameter {k!r}")
    p = dict(info.defaults)
    p.update(params)
    p["ease"] = p["ease"] if ease is None else float(ease)
    if not (-0.05 <= p["ease"] <= 1.0):
        raise GarmentError(f"garment {name}: ease must be in [-0.05, 1], got {p['ease']}")
    ctx = _body_context(body_shape)
    m = ctx["measures"]
    builder = _BUILDERS[name]
    spec = builder(ctx, p, length)
    if spec.length <= 0.05:
        raise GarmentError(f"garment {name}: length must be more than 0.05 m, got {spec.length:.3f}")
    _outline(spec)  # measures the region's area for the spacing
    # size the triangles for the target vertex count; one correction pass
    spacing = spec.spacing_for(int(vert_count))
    g = _build(ctx, spec, spacing)
    got = g.vert_count
    if abs(got - vert_count) > 0.12 * vert_count:
        spacing *= np.sqrt(got / vert_count)
        g = _build(ctx, spec, spacing)
    meta = dict(g.meta)
    meta.update({"template": name, "params": {k: v for k, v in p.items() if k != "vert_count"},
                 "length": spec.length, "body_shape": (body_shape or BodyShape()).to_dict(),
                 "measures": {"chest_girth": m.chest_girth, "waist_girth": m.waist_girth, "hip_girth": m.hip_girth}})
    return Garment(name=name, verts=g.verts, faces=g.faces, panel_uv=g.panel_uv, atlas_uv=g.atlas_uv,
                   pinned=g.pinned, kind=info.kind, meta=meta)


# ---------------------------------------------------------------------------- specs
@dataclass
class _Spec:
    groups: list  # list of (fields, tags) groups; region = union of groups, each the intersection of its fields
    planes: dict  # tag -> (normal (3,), offset) of the cut plane open vertices stay on
    pinned_tags: tuple
    clearance: float
    length: float
    kind: str
    xs: np.ndarray
    zs: np.ndarray
    region_area: float = 0.0
    flare: float = 0.0
    flare_top: float | None = None  # height (metres) where the flare starts
    center_split: bool = False  # cut front and back at x = 0 into left and right panels (trousers)
    yoke: float = 0.0  # metres below the waist plane whose vertices are pinned too (a fitted yoke)

    def spacing_for(self, vert_count: int) -> float:
        # two layers, wrapped: 3D area ~ 2 * 1.35 * planar area; hexagonal density 2 / (sqrt(3) s^2)
        area3d = 2.0 * 1.35 * self.region_area
        return float(np.sqrt(area3d * 2.0 / (np.sqrt(3.0) * vert_count)))


def _dilated_field(mask: np.ndarray, radius: float, pixel: float) -> np.ndarray:
    """Positive inside the mask dilated by ``radius`` metres (signed, metres)."""
    from scipy.ndimage import binary_closing, binary_fill_holes, distance_transform_edt

    m = binary_fill_holes(binary_closing(mask, iterations=2))
    out = distance_transform_edt(~m) * pixel
    inside = distance_transform_edt(m) * pixel
    return radius - out + inside * (out == 0)


def _row_extent(field: np.ndarray, xs: np.ndarray, *, half: str = "both") -> tuple[np.ndarray, np.ndarray]:
    """Per row: the outermost |x| and innermost |x| of field > 0 on the chosen side(s)."""
    ax = np.abs(xs)
    pos = field > 0
    if half == "left":
        pos = pos & (xs >= 0)[None]
    elif half == "right":
        pos = pos & (xs <= 0)[None]
    outer = np.where(pos, ax[None], -np.inf).max(1)
    inner = np.where(pos, ax[None], np.inf).min(1)
    return outer, inner


def _smooth1d(a: np.ndarray, sigma_px: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    good = np.isfinite(a)
    if not good.any():
        return a
    idx = np.arange(len(a))
    filled = np.interp(idx, idx[good], a[good])
    out = gaussian_filter1d(filled, sigma_px, mode="nearest")
    return np.where(good, out, a)


def _arm_cut(m, side: int, sleeve: float, X, Z):
    """Signed field (metres) positive on the shoulder side of the cuff line of one arm."""
    sj = m.shoulder_joint.copy()
    el = m.elbow.copy()
    sj[0] *= side
    el[0] *= side
    a = np.array([el[0] - sj[0], el[2] - sj[2]])
    a /= np.linalg.norm(a)
    L = sleeve * m.upper_arm_length
    f = L - ((X - sj[0]) * a[0] + (Z - sj[2]) * a[1])
    n3 = np.array([a[0], 0.0, a[1]])
    off = L + sj[0] * a[0] + sj[2] * a[1]
    return f, (n3, off)


def _neck_field(m, X, Z, *, ease: float):
    a = m.neck_halfwidth + 0.025 + ease * 0.05
    b = 0.07
    zc = m.z_neck + 0.035
    r = np.sqrt((X / a) ** 2 + ((Z - zc) / b) ** 2)
    return (r - 1.0) * min(a, b)


def _upper_groups(ctx, p, length, *, skirt_flare: float | None):
    """Outline groups for tops and dresses: torso (row-convex) united with the two sleeves."""
    m, r = ctx["measures"], ctx["raster"]
    X, Z = r.grid()
    xs, zs = X[0], Z[:, 0]
    px = r.pixel
    cl = CLEARANCE + p["ease"] * m.chest_girth / (2 * np.pi)
    trunk = _dilated_field(r.masks[PART_TRUNK] | r.masks[PART_LEG], cl, px)
    outer, _ = _row_extent(trunk, xs)
    outer = _smooth1d(outer, 0.02 / px)
    top = m.z_neck
    z_hem = top - length
    if skirt_flare is not None:
        # below the widest hip row the skirt falls straight, then flares
        hip_rows = (zs > m.z_crotch - 0.05) & (zs < m.z_waist)
        zi = np.nonzero(hip_rows)[0]
        ih = zi[np.argmax(np.where(np.isfinite(outer[zi]), outer[zi], -1))]
        w_hip = outer[ih]
        below = zs < zs[ih]
        drop = np.clip(zs[ih] - zs, 0, None)
        outer = np.where(below, np.maximum(np.where(np.isfinite(outer), outer, 0), w_hip + skirt_flare * drop), outer)
    torso = np.where(np.isfinite(outer)[:, None], outer[:, None] - np.abs(X), -1.0)
    hem = Z - z_hem
    neck = _neck_field(m, X, Z, ease=p["ease"])
    groups = [([torso, hem, neck], [SEAM, HEM, NECK])]
    planes = {HEM: (np.array([0.0, 0.0, 1.0]), z_hem)}
    arm = _dilated_field(r.masks[PART_ARM], cl, px)
    for side, tag in ((1, CUFF_L), (-1, CUFF_R)):
        f, plane = _arm_cut(m, side, p["sleeve"], X, Z)
        this_side = np.where(side * X > 0, arm, -1.0)
        groups.append(([this_side, f, neck], [SEAM, tag, NECK]))
        planes[tag] = plane
    return groups, planes, cl, xs, zs


def _spec_tshirt(ctx, p, length):
    m = ctx["measures"]
    length = float(length) if length is not None else (m.z_neck - (m.z_hip_joint - 0.06))
    groups, planes, cl, xs, zs = _upper_groups(ctx, p, length, skirt_flare=None)
    return _Spec(groups, planes, (), cl, length, "tshirt", xs, zs)


def _spec_dress(ctx, p, length):
    m = ctx["measures"]
    length = float(length) if length is not None else (m.z_neck - (m.z_knee - 0.12))
    groups, planes, cl, xs, zs = _upper_groups(ctx, p, length, skirt_flare=p["flare"])
    return _Spec(groups, planes, (), cl, length, "dress", xs, zs, flare=p["flare"], flare_top=m.z_hip_joint)


def _spec_skirt(ctx, p, length):
    m, r = ctx["measures"], ctx["raster"]
    X, Z = r.grid()
    xs, zs = X[0], Z[:, 0]
    px = r.pixel
    cl = CLEARANCE + p["ease"] * m.hip_girth / (2 * np.pi)
    length = float(length) if length is not None else (m.z_waist - m.z_knee + 0.02)
    z_top = m.z_waist
    z_hem = z_top - length
    body = _dilated_field(r.masks[PART_TRUNK] | r.masks[PART_LEG], cl, px)
    outer, _ = _row_extent(body, xs)
    outer = np.where(np.isfinite(outer), outer, 0.0)
    # from the waist down the skirt never narrows; below the widest hip row it flares
    hip_rows = np.nonzero((zs > m.z_crotch - 0.05) & (zs <= z_top))[0]
    ih = hip_rows[np.argmax(outer[hip_rows])]
    w = outer.copy()
    for i in range(len(zs) - 2, -1, -1):
        if zs[i] < z_top:
            w[i] = max(w[i], w[i + 1])
    drop = np.clip(zs[ih] - zs, 0, None)
    w = np.maximum(w, outer[ih] + p["flare"] * drop)
    w = _smooth1d(w, 0.01 / px)
    shape = w[:, None] - np.abs(X)
    groups = [([shape, Z - z_hem, z_top - Z], [SEAM, HEM, WAIST])]
    planes = {HEM: (np.array([0.0, 0.0, 1.0]), z_hem), WAIST: (np.array([0.0, 0.0, 1.0]), z_top)}
    yoke = float(p["yoke"])
    if not 0.0 <= yoke < 0.5 * length:
        raise GarmentError(f"garment skirt: yoke must be in [0, half the length = {0.5 * length:.3f}] m, got {yoke}")
    return _Spec(groups, planes, (WAIST,), cl, length, "skirt", xs, zs, flare=p["flare"], flare_top=float(zs[ih]),
                 yoke=yoke)


def _spec_trousers(ctx, p, length, *, kind="trousers"):
    m, r = ctx["measures"], ctx["raster"]
    X, Z = r.grid()
    xs, zs = X[0], Z[:, 0]
    px = r.pixel
    cl = CLEARANCE + p["ease"] * m.hip_girth / (2 * np.pi)
    if length is None:
        length = (m.z_waist - (m.z_ankle + 0.03)) if kind == "trousers" else (m.z_waist - (m.z_knee + 0.14))
    length = float(length)
    z_top = m.z_waist
    z_hem = z_top - length
    body = _dilated_field(r.masks[PART_TRUNK] | r.masks[PART_LEG], cl, px)
    outer, _ = _row_extent(body, xs, half="left")
    # the inseam may come closer to the legs than the clearance: the relaxation keeps the cloth off
    _, inner = _row_extent(_dilated_field(r.masks[PART_TRUNK] | r.masks[PART_LEG], 0.006, px), xs, half="left")
    outer = np.where(np.isfinite(outer), outer, 0.0)
    # straight legs: from the hips down the outer line never comes in by more than a gentle taper
    w = outer.copy()
    for i in range(len(zs) - 2, -1, -1):
        if zs[i] < z_top:
            w[i] = max(w[i], w[i + 1] - 0.08 * px)
    w = _smooth1d(w, 0.01 / px)
    gap = np.where(inner <= 1.5 * px, -1.0, inner)  # -1: the legs are joined in this row
    # above the crotch every row is joined
    joined_rows = zs >= m.z_crotch
    gap = np.where(joined_rows, -1.0, gap)
    # the inseam rises monotonically toward the crotch: once joined, stay joined above
    g = gap.copy()
    joined = True
    for i in range(len(zs) - 1, -1, -1):
        if zs[i] >= z_top:
            continue
        if joined and gap[i] > 0:
            joined = False
        if not joined and gap[i] < 0:
            g[i] = g[i + 1] if i + 1 < len(zs) and g[i + 1] > 0 else 1.5 * px
    g = np.where(g > 0, np.minimum(g, np.maximum(w - 0.08, px)), g)
    gs = _smooth1d(np.where(g > 0, g, np.nan), 0.008 / px)
    g = np.where(g > 0, gs, -1.0)
    shape = np.minimum(w[:, None] - np.abs(X), np.where(g[:, None] > 0, np.abs(X) - g[:, None], 1.0))
    groups = [([shape, Z - z_hem, z_top - Z], [SEAM, HEM, WAIST])]
    planes = {HEM: (np.array([0.0, 0.0, 1.0]), z_hem), WAIST: (np.array([0.0, 0.0, 1.0]), z_top)}
    return _Spec(groups, planes, (WAIST,), cl, length, kind, xs, zs, center_split=True)


def _spec_shorts(ctx, p, length):
    return _spec_trousers(ctx, p, length, kind="shorts")


_BUILDERS = {"tshirt": _spec_tshirt, "skirt": _spec_skirt, "dress": _spec_dress,
             "trousers": _spec_trousers, "shorts": _spec_shorts}


# ---------------------------------------------------------------------------- build
def _outline(spec: _Spec) -> pat.Outline:
    """Union of groups (max) of intersections (min); tags from the active field."""
    import contourpy
    from scipy.ndimage import map_coordinates

    inter = [np.stack(f).min(0) for f, _ in spec.groups]
    F = np.stack(inter).max(0)
    xs, zs = spec.xs, spec.zs
    gen = contourpy.contour_generator(xs, zs, F, line_type="Separate")
    lines = [ln for ln in gen.lines(0.0) if len(ln) > 8]
    if not lines:
        raise GarmentError(f"{spec.kind}: the pattern outline is empty (length {spec.length:.3f} m)")

    def area(q):
        return 0.5 * np.sum(q[:, 0] * np.roll(q[:, 1], -1) - np.roll(q[:, 0], -1) * q[:, 1])

    ln = max(lines, key=lambda q: abs(area(q)))
    if np.allclose(ln[0], ln[-1]):
        ln = ln[:-1]
    if area(ln) < 0:
        ln = ln[::-1]
    spec.region_area = abs(area(ln))
    mid = 0.5 * (ln + np.roll(ln, -1, 0))
    px = xs[1] - xs[0]
    rc = [(mid[:, 1] - zs[0]) / px, (mid[:, 0] - xs[0]) / px]
    gvals = np.stack([map_coordinates(g, rc, order=1, mode="nearest") for g in inter])
    gi = gvals.argmax(0)
    tag = np.zeros(len(ln), np.int64)
    for k, (fields, tags) in enumerate(spec.groups):
        sel = gi == k
        if not sel.any():
            continue
        vals = np.stack([map_coordinates(f, [rc[0][sel], rc[1][sel]], order=1, mode="nearest") for f in fields])
        tag[sel] = np.asarray(tags)[vals.argmin(0)]
    for _ in range(3):
        prev, nxt = np.roll(tag, 1), np.roll(tag, -1)
        flick = (tag != prev) & (prev == nxt)
        tag = np.where(flick, prev, tag)
    return pat.Outline(np.asarray(ln, np.float64), tag)


@dataclass
class _Built:
    verts: np.ndarray
    faces: np.ndarray
    panel_uv: np.ndarray
    atlas_uv: np.ndarray
    pinned: np.ndarray
    meta: dict

    @property
    def vert_count(self):
        return len(self.verts)


def _build(ctx, spec: _Spec, spacing: float) -> _Built:
    from scipy.ndimage import distance_transform_edt, gaussian_filter, maximum_filter, minimum_filter
    from scipy.spatial import cKDTree

    from .atlas import pack_atlas

    r = ctx["raster"]
    outline = _outline(spec)
    outline = pat.resample_outline(outline, spacing)
    inner = []
    if spec.center_split:
        outline, cross = _insert_axis_crossings(outline)
        if len(cross) >= 2:
            inner = [np.array([[0.0, cross.max()], [0.0, cross.min()]])]
    mesh = pat.triangulate_outline(outline, spacing, inner_lines=inner)
    two = pat.weld_two_layers(mesh)
    P2 = mesh.points[two.src]  # (V, 2) planar position of each 3D vertex
    cl = spec.clearance
    px = r.pixel
    # depth bounds of the body, widened by the clearance
    rad = max(1, int(np.ceil(cl / px)))
    body = np.isfinite(r.ymin)
    ymin = np.where(body, r.ymin, np.inf)
    ymax = np.where(body, r.ymax, -np.inf)
    fp = np.hypot(*np.mgrid[-rad:rad + 1, -rad:rad + 1]) <= rad
    ymin_w = minimum_filter(ymin, footprint=fp, mode="nearest")
    ymax_w = maximum_filter(ymax, footprint=fp, mode="nearest")
    # mid-plane: the middle of the body's depth at the nearest body pixel, smoothed
    _, (ri, ci) = distance_transform_edt(~body, return_indices=True)
    mid = np.where(body, 0.5 * (np.where(body, r.ymin, 0.0) + np.where(body, r.ymax, 0.0)), 0.0)[ri, ci]
    mid = gaussian_filter(mid, 0.03 / px)
    half = np.where(body, 0.5 * (r.ymax - r.ymin), 0.0)
    cap = gaussian_filter(maximum_filter(half, size=int(0.12 / px)), 0.02 / px)
    x, z = P2[:, 0], P2[:, 1]
    y_mid = r.sample(mid, x, z)
    depth = r.sample(cap, x, z) + cl
    if spec.flare_top is not None:
        # flared skirts stand away from the legs front and back as well as sideways
        depth = depth + 0.8 * spec.flare * np.clip(spec.flare_top - z, 0, None)
    # distance to the seams in the plane
    B = mesh.boundary_count
    seam_e = np.nonzero(mesh.edge_tag == 0)[0]
    if len(seam_e):
        a = mesh.points[seam_e]
        b = mesh.points[(seam_e + 1) % B]
        t = np.linspace(0, 1, 6)[:, None, None]
        sp = (a[None] + (b - a)[None] * t).reshape(-1, 2)
        ds, _ = cKDTree(sp).query(P2)
    else:
        ds = np.full(len(P2), np.inf)
    lift = np.minimum(1.3 * ds, depth)
    yf_body = r.sample(np.where(np.isfinite(ymin_w), ymin_w, 1.0), x, z, order=0) - cl
    yb_body = r.sample(np.where(np.isfinite(ymax_w), ymax_w, -1.0), x, z, order=0) + cl
    y = np.where(two.layer == 0, np.minimum(y_mid - lift, yf_body), y_mid)
    y = np.where(two.layer == 1, np.maximum(y_mid + lift, yb_body), y)
    verts = np.stack([x, y, z], 1)
    faces = two.faces
    # relax: interior smoothing, open rings smoothed along themselves and kept on their cut planes
    prox = ctx["proximity"]
    verts = _relax(verts, faces, two.open_tag, spec.planes, prox, cl)
    # panels: front / back
    side = np.zeros(len(mesh.tris), np.int64)
    if spec.center_split:
        side = (mesh.points[mesh.tris].mean(1)[:, 0] > 0).astype(np.int64)
    panel = np.concatenate([2 * side, 2 * side + 1])
    init = np.concatenate([mesh.points[mesh.tris], mesh.points[mesh.tris][:, [0, 2, 1]] * [-1.0, 1.0]])
    panel_uv = pat.flatten_panels(verts, faces, panel, init_corners=init, iterations=15)
    atlas_uv = pack_atlas(panel_uv, panel)
    pin = np.isin(two.open_tag, spec.pinned_tags) if spec.pinned_tags else np.zeros(len(verts), bool)
    if spec.yoke > 0:
        # a fitted yoke: the band within ``yoke`` metres below the waist follows the body (skinned)
        pin |= verts[:, 2] > spec.planes[WAIST][1] - spec.yoke
    pinned = np.nonzero(pin)[0].astype(np.int32)
    names = {0: "front", 1: "back"} if not spec.center_split else {0: "front right", 1: "back right", 2: "front left", 3: "back left"}
    meta = {"panels": {names[int(k)]: int(k) for k in np.unique(panel)}, "clearance": cl, "spacing": spacing,
            "open_edges": {TAG_NAMES[t]: int((two.open_tag == t).sum()) for t in TAG_NAMES if (two.open_tag == t).any()}}
    return _Built(verts.astype(np.float32), faces.astype(np.int32), panel_uv.astype(np.float32),
                  atlas_uv.astype(np.float32), pinned, meta)


def _insert_axis_crossings(outline: pat.Outline) -> tuple[pat.Outline, np.ndarray]:
    """Add outline points where the outline crosses x = 0; returns (outline, their z values)."""
    pts, tag = outline.points, outline.edge_tag
    nxt = np.roll(pts, -1, 0)
    new_pts, new_tag, cross = [], [], []
    for i in range(len(pts)):
        new_pts.append(pts[i])
        new_tag.append(tag[i])
        a, b = pts[i], nxt[i]
        if abs(a[0]) < 1e-9:
            cross.append(a[1])
        elif a[0] * b[0] < 0:
            t = a[0] / (a[0] - b[0])
            q = a + (b - a) * t
            if min(np.linalg.norm(q - a), np.linalg.norm(q - b)) < 1e-4:
                cross.append(q[1])  # close enough to an existing point; keep as is
                continue
            new_pts.append(np.array([0.0, q[1]]))
            new_tag.append(tag[i])
            cross.append(q[1])
    return pat.Outline(np.array(new_pts), np.array(new_tag)), np.array(cross)


def _relax(verts, faces, open_tag, planes, prox, cl, *, iterations: int = 40, step: float = 0.5):
    v = verts.astype(np.float64).copy()
    A = pat.uniform_laplacian(faces, len(v))
    free = open_tag == 0
    loops = pat.boundary_loops(faces)
    for it in range(iterations):
        target = A @ v
        v[free] += step * (target[free] - v[free])
        for loop in loops:
            # Taubin (lambda / mu) smoothing: rounds the ring's corners without shrinking it
            for lam in (0.5, -0.53):
                ring = v[loop]
                avg = 0.5 * (np.roll(ring, 1, 0) + np.roll(ring, -1, 0))
                v[loop] += lam * (avg - ring)
        for tag, (n, off) in planes.items():
            sel = open_tag == tag
            if sel.any():
                v[sel] -= ((v[sel] @ n) - off)[:, None] * n[None]
        if it % 2 == 1 or it == iterations - 1:
            v = pat.push_out(v, prox, cl)
    return v
