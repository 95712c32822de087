"""Rasterize per-vertex features into a garment's UV atlas and sample images back at the vertices.

Pure numpy (scipy.sparse for the sampling matrix). The torch counterparts used in
training live in :mod:`drape.model.uv`; both read the same :class:`RasterMap`.

Pixel convention: an image is ``(H, W)``; pixel ``(r, c)`` has its centre at
``u = (c + 0.5) / W``, ``v = (r + 0.5) / H``. The row index grows with ``v``
(flip rows, or use ``origin="lower"``, to view an atlas with v up).

What a :class:`RasterMap` holds, per pixel:

* ``tri``: the triangle whose interior holds the pixel centre (the lowest triangle
  index wins on shared edges), -1 where none;
* ``bary``: barycentric coordinates of the pixel centre in that triangle;
* ``mask``: 1 for covered pixels, 0 elsewhere.

Pixels within ``dilation`` pixels (Euclidean, pixel-centre distance) of a covered pixel
are *dilated*: they take the triangle of the nearest covered pixel (ties broken by the
row offset then the column offset, lowest first) and the barycentrics of their own
centre in that triangle, i.e. the triangle's linear field is extrapolated a little
past the panel border. The extrapolation is limited: if a barycentric coordinate
would drop below ``-extrapolation`` the point is pulled back along the segment towards
the nearest covered pixel's centre until it doesn't (``extrapolation=0`` clamps to the
triangle). Dilated pixels keep ``mask = 0``. This way convolutions never see a hard
edge at panel borders, and bilinear sampling at border vertices reads sensible
values (an affine field is reproduced exactly).

Sampling: each vertex is sampled bilinearly at each of its distinct atlas UVs (a
vertex on a seam has one per panel) and the samples are averaged. Taps outside the
image are clamped to the border pixel. The whole operation is one fixed sparse
matrix ``(V, H*W)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from drape.types import DrapeError

_INSIDE_EPS = 1e-9
_BUDGET = 1 << 21  # candidate pixels evaluated at once by the fast rasterizer


@dataclass(frozen=True, eq=False)
class RasterMap:
    """A precomputed map between a garment's vertices and an H x W UV image."""

    height: int
    width: int
    vert_count: int
    tri: np.ndarray
    """(H, W) int32 triangle index per pixel (covered or dilated), -1 where empty."""
    bary: np.ndarray
    """(H, W, 3) float32 barycentric coordinates of the pixel centre (0 where empty)."""
    mask: np.ndarray
    """(H, W) float32: 1 where a triangle covers the pixel centre, 0 elsewhere (dilated ring included)."""
    tri_verts: np.ndarray
    """(H, W, 3) int32 vertex indices of ``tri`` (0 where empty)."""
    sample_vertex: np.ndarray
    """(N,) int32 vertex of each bilinear tap (4 taps per distinct vertex UV)."""
    sample_pixel: np.ndarray
    """(N,) int32 flat pixel index ``r * W + c`` of each tap."""
    sample_weight: np.ndarray
    """(N,) float32 tap weight (bilinear weight divided by the vertex's number of distinct UVs)."""

    @property
    def filled(self) -> np.ndarray:
        """(H, W) bool: pixels that hold a value (covered or dilated)."""
        return self.tri >= 0

    @cached_property
    def sample_matrix(self):
        """scipy.sparse CSR (V, H*W): ``vertex_values = S @ flat_image``."""
        from scipy.sparse import csr_matrix

        return csr_matrix(
            (self.sample_weight.astype(np.float64), (self.sample_vertex, self.sample_pixel)),
            shape=(self.vert_count, self.height * self.width),
        )

    @cached_property
    def raster_matrix(self):
        """scipy.sparse CSR (H*W, V): ``flat_image = R @ vertex_values``, each filled pixel's 3 barycentrics
        (empty pixels give 0)."""
        from scipy.sparse import csr_matrix

        filled = np.nonzero(self.filled.reshape(-1))[0]
        return csr_matrix(
            (self.bary.reshape(-1, 3)[filled].reshape(-1).astype(np.float64),
             (np.repeat(filled, 3), self.tri_verts.reshape(-1, 3)[filled].reshape(-1))),
            shape=(self.height * self.width, self.vert_count),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for saving (see :meth:`from_arrays`)."""
        return {
            "shape": np.array([self.height, self.width, self.vert_count], dtype=np.int64),
            "tri": self.tri,
            "bary": self.bary,
            "mask": self.mask,
            "tri_verts": self.tri_verts,
            "sample_vertex": self.sample_vertex,
            "sample_pixel": self.sample_pixel,
            "sample_weight": self.sample_weight,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "RasterMap":
        h, w, v = (int(x) for x in arrays["shape"])
        return cls(
            height=h,
            width=w,
            vert_count=v,
            **{k: np.asarray(arrays[k]) for k in ("tri", "bary", "mask", "tri_verts", "sample_vertex", "sample_pixel", "sample_weight")},
        )


# --------------------------------------------------------------------------- building


def _check_inputs(atlas_uv: np.ndarray, faces: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    uv = np.asarray(atlas_uv, dtype=np.float64)
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3:
        raise DrapeError(f"uv raster: faces: expected (T, 3), got {f.shape}")
    if uv.shape != (len(f), 3, 2):
        raise DrapeError(f"uv raster: atlas_uv: expected ({len(f)}, 3, 2), got {uv.shape}")
    if not np.isfinite(uv).all():
        raise DrapeError("uv raster: atlas_uv contains NaN or infinite values")
    if height < 1 or width < 1:
        raise DrapeError(f"uv raster: image size must be positive, got {height}x{width}")
    return uv, f.astype(np.int64)


def _tri_pixel_coords(uv: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T, 3, 2) corner positions in continuous pixel units (x = u*W - 0.5, y = v*H - 0.5): pixel centres are integers."""
    return np.stack([uv[..., 0] * width - 0.5, uv[..., 1] * height - 0.5], axis=-1)


def _bary(ax, ay, bx, by, cx, cy, px, py):
    """Barycentrics of (px, py) in triangle a, b, c. Elementwise; same arithmetic for arrays and floats."""
    d = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    l0 = ((bx - px) * (cy - py) - (by - py) * (cx - px)) / d
    l1 = ((cx - px) * (ay - py) - (cy - py) * (ax - px)) / d
    l2 = 1.0 - l0 - l1
    return l0, l1, l2


def _tri_boxes(p: np.ndarray, height: int, width: int):
    c0 = np.clip(np.ceil(p[..., 0].min(1)), 0, width).astype(np.int64)
    c1 = np.clip(np.floor(p[..., 0].max(1)), -1, width - 1).astype(np.int64)
    r0 = np.clip(np.ceil(p[..., 1].min(1)), 0, height).astype(np.int64)
    r1 = np.clip(np.floor(p[..., 1].max(1)), -1, height - 1).astype(np.int64)
    d = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0])
    ok = (c1 >= c0) & (r1 >= r0) & (np.abs(d) > 1e-12)
    return r0, r1, c0, c1, ok


def _cover_fast(p: np.ndarray, height: int, width: int):
    """Covered pixels: (H, W) triangle index (-1 empty) and (H, W, 3) float64 barycentrics."""
    r0, r1, c0, c1, ok = _tri_boxes(p, height, width)
    tris = np.nonzero(ok)[0]
    bh = (r1 - r0 + 1)[tris]
    bw = (c1 - c0 + 1)[tris]
    order = np.argsort(bh * bw, kind="stable")
    tris, bh, bw = tris[order], bh[order], bw[order]
    pix_all, tri_all, bary_all = [], [], []
    s = 0
    while s < len(tris):
        # Grow the chunk while the padded candidate grid stays within budget.
        e = s + 1
        mh, mw = bh[s], bw[s]
        while e < len(tris):
            nh, nw = max(mh, bh[e]), max(mw, bw[e])
            if (e - s + 1) * nh * nw > _BUDGET:
                break
            mh, mw, e = nh, nw, e + 1
        t = tris[s:e]
        dy = np.arange(mh)[None, :, None]
        dx = np.arange(mw)[None, None, :]
        rows = r0[t][:, None, None] + dy
        cols = c0[t][:, None, None] + dx
        valid = (dy < bh[s:e][:, None, None]) & (dx < bw[s:e][:, None, None])
        q = p[t]
        l0, l1, l2 = _bary(
            q[:, 0, 0, None, None], q[:, 0, 1, None, None], q[:, 1, 0, None, None], q[:, 1, 1, None, None],
            q[:, 2, 0, None, None], q[:, 2, 1, None, None], cols.astype(np.float64), rows.astype(np.float64),
        )
        inside = valid & (l0 >= -_INSIDE_EPS) & (l1 >= -_INSIDE_EPS) & (l2 >= -_INSIDE_EPS)
        ti, yi, xi = np.nonzero(inside)
        pix_all.append((rows[ti, yi, 0] * width + cols[ti, 0, xi]))
        tri_all.append(t[ti])
        bary_all.append(np.stack([l0[ti, yi, xi], l1[ti, yi, xi], l2[ti, yi, xi]], axis=-1))
        s = e
    tri_img = np.full(height * width, -1, dtype=np.int64)
    bary_img = np.zeros((height * width, 3), dtype=np.float64)
    if pix_all:
        pix = np.concatenate(pix_all)
        tri = np.concatenate(tri_all)
        bary = np.concatenate(bary_all)
        o = np.lexsort((tri, pix))
        pix, tri, bary = pix[o], tri[o], bary[o]
        first = np.ones(len(pix), dtype=bool)
        first[1:] = pix[1:] != pix[:-1]
        tri_img[pix[first]] = tri[first]
        bary_img[pix[first]] = bary[first]
    return tri_img.reshape(height, width), bary_img.reshape(height, width, 3)


def _cover_slow(p: np.ndarray, height: int, width: int):
    """Reference for :func:`_cover_fast`: a plain loop over triangles and pixels."""
    r0, r1, c0, c1, ok = _tri_boxes(p, height, width)
    tri_img = np.full((height, width), -1, dtype=np.int64)
    bary_img = np.zeros((height, width, 3), dtype=np.float64)
    for t in range(len(p)):
        if not ok[t]:
            continue
        (ax, ay), (bx, by), (cx, cy) = (tuple(float(x) for x in p[t, k]) for k in range(3))
        for r in range(r0[t], r1[t] + 1):
            for c in range(c0[t], c1[t] + 1):
                if tri_img[r, c] >= 0:
                    continue
                l0, l1, l2 = _bary(ax, ay, bx, by, cx, cy, float(c), float(r))
                if l0 >= -_INSIDE_EPS and l1 >= -_INSIDE_EPS and l2 >= -_INSIDE_EPS:
                    tri_img[r, c] = t
                    bary_img[r, c] = (l0, l1, l2)
    return tri_img, bary_img


def _dilation_offsets(k: int) -> list[tuple[int, int]]:
    offs = [(dy, dx) for dy in range(-k, k + 1) for dx in range(-k, k + 1) if 0 < dy * dy + dx * dx <= k * k]
    offs.sort(key=lambda o: (o[0] * o[0] + o[1] * o[1], o[0], o[1]))
    return offs


def _nearest_covered_fast(covered: np.ndarray, k: int) -> np.ndarray:
    """(H, W) flat index of the nearest covered pixel within k px for uncovered pixels, -1 otherwise."""
    H, W = covered.shape
    src = np.full((H, W), -1, dtype=np.int64)
    flat = np.arange(H * W).reshape(H, W)
    for dy, dx in _dilation_offsets(k):
        # target pixel (r, c) looks at (r + dy, c + dx)
        rs = slice(max(0, -dy), min(H, H - dy))
        cs = slice(max(0, -dx), min(W, W - dx))
        rn = slice(rs.start + dy, rs.stop + dy)
        cn = slice(cs.start + dx, cs.stop + dx)
        take = (~covered[rs, cs]) & (src[rs, cs] < 0) & covered[rn, cn]
        src_view = src[rs, cs]
        src_view[take] = flat[rn, cn][take]
    return src


def _nearest_covered_slow(covered: np.ndarray, k: int) -> np.ndarray:
    H, W = covered.shape
    src = np.full((H, W), -1, dtype=np.int64)
    offs = _dilation_offsets(k)
    for r in range(H):
        for c in range(W):
            if covered[r, c]:
                continue
            for dy, dx in offs:
                rr, cc = r + dy, c + dx
                if 0 <= rr < H and 0 <= cc < W and covered[rr, cc]:
                    src[r, c] = rr * W + cc
                    break
    return src


def _dilate(p, tri_img, bary_img, src, extrapolation: float):
    H, W = tri_img.shape
    ring = np.nonzero(src.reshape(-1) >= 0)[0]
    if len(ring) == 0:
        return tri_img, bary_img
    tri_flat = tri_img.reshape(-1).copy()
    bary_flat = bary_img.reshape(-1, 3).copy()
    s = src.reshape(-1)[ring]
    t = tri_flat[s]
    q = p[t]
    rows = (ring // W).astype(np.float64)
    cols = (ring % W).astype(np.float64)
    l = np.stack(_bary(q[:, 0, 0], q[:, 0, 1], q[:, 1, 0], q[:, 1, 1], q[:, 2, 0], q[:, 2, 1], cols, rows), axis=-1)
    b0 = bary_flat[s]
    e = float(extrapolation)
    with np.errstate(divide="ignore", invalid="ignore"):
        lim = np.where(l < -e, (b0 + e) / (b0 - l), np.inf)
    step = np.minimum(1.0, lim.min(axis=1))[:, None]
    tri_flat[ring] = t
    bary_flat[ring] = b0 + step * (l - b0)
    return tri_flat.reshape(H, W), bary_flat.reshape(H, W, 3)


def _sample_taps(uv: np.ndarray, faces: np.ndarray, vert_count: int, height: int, width: int):
    corner_v = faces.reshape(-1)
    corner_uv = uv.reshape(-1, 2)
    key = np.concatenate([corner_v[:, None].astype(np.float64), corner_uv], axis=1)
    uniq = np.unique(key, axis=0)
    vert = uniq[:, 0].astype(np.int64)
    cuv = uniq[:, 1:]
    n_per_vert = np.bincount(vert, minlength=vert_count)
    x = cuv[:, 0] * width - 0.5
    y = cuv[:, 1] * height - 0.5
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    taps_v, taps_p, taps_w = [], [], []
    for oy, wy in ((0, 1.0 - fy), (1, fy)):
        for ox, wx in ((0, 1.0 - fx), (1, fx)):
            rr = np.clip(y0 + oy, 0, height - 1)
            cc = np.clip(x0 + ox, 0, width - 1)
            taps_v.append(vert)
            taps_p.append(rr * width + cc)
            taps_w.append(wy * wx / n_per_vert[vert])
    return (
        np.concatenate(taps_v).astype(np.int32),
        np.concatenate(taps_p).astype(np.int32),
        np.concatenate(taps_w).astype(np.float32),
    )


def build_raster_map(
    atlas_uv: np.ndarray,
    faces: np.ndarray,
    height: int,
    width: int | None = None,
    *,
    vert_count: int | None = None,
    dilation: int = 3,
    extrapolation: float = 1.0,
    reference: bool = False,
) -> RasterMap:
    """Precompute the rasterization and sampling map of a garment atlas.

    atlas_uv: (T, 3, 2) float, each triangle corner's atlas position in [0, 1].
    faces: (T, 3) int vertex indices. height, width: image size in pixels (width defaults to height).
    vert_count: V (defaults to faces.max() + 1). dilation: ring width in pixels (0: none).
    extrapolation: how far below 0 a dilated pixel's barycentrics may go (see module docs).
    reference: use the slow loop implementation (for tests).
    """
    width = height if width is None else width
    uv, f = _check_inputs(atlas_uv, faces, height, width)
    V = int(f.max()) + 1 if vert_count is None else int(vert_count)
    if len(f) and f.max() >= V:
        raise DrapeError(f"uv raster: faces reference vertex {f.max()} but vert_count is {V}")
    p = _tri_pixel_coords(uv, height, width)
    tri_img, bary_img = (_cover_slow if reference else _cover_fast)(p, height, width)
    covered = tri_img >= 0
    if dilation > 0 and covered.any():
        src = (_nearest_covered_slow if reference else _nearest_covered_fast)(covered, int(dilation))
        tri_img, bary_img = _dilate(p, tri_img, bary_img, src, extrapolation)
    filled = tri_img >= 0
    tri_verts = np.zeros((height, width, 3), dtype=np.int32)
    tri_verts[filled] = f[tri_img[filled]]
    sv, sp, sw = _sample_taps(uv, f, V, height, width)
    return RasterMap(
        height=int(height),
        width=int(width),
        vert_count=V,
        tri=tri_img.astype(np.int32),
        bary=bary_img.astype(np.float32),
        mask=covered.astype(np.float32),
        tri_verts=tri_verts,
        sample_vertex=sv,
        sample_pixel=sp,
        sample_weight=sw,
    )


# --------------------------------------------------------------------------- using


def rasterize(vertex_features: np.ndarray, raster_map: RasterMap) -> np.ndarray:
    """Per-vertex features (..., V, C) -> image (..., C, H, W); empty pixels are 0 (float32)."""
    x = np.asarray(vertex_features, dtype=np.float32)
    if x.ndim < 2 or x.shape[-2] != raster_map.vert_count:
        raise DrapeError(f"rasterize: expected features (..., {raster_map.vert_count}, C), got {x.shape}")
    vals = x[..., raster_map.tri_verts, :]  # (..., H, W, 3, C)
    bary = np.where(raster_map.filled[..., None], raster_map.bary, 0.0).astype(np.float32)
    return np.einsum("...hwkc,hwk->...chw", vals, bary)


def rasterize_reference(vertex_features: np.ndarray, raster_map: RasterMap) -> np.ndarray:
    """Slow reference of :func:`rasterize` for (V, C) features: a loop over pixels."""
    x = np.asarray(vertex_features, dtype=np.float64)
    H, W = raster_map.height, raster_map.width
    out = np.zeros((x.shape[1], H, W))
    for r in range(H):
        for c in range(W):
            if raster_map.tri[r, c] < 0:
                continue
            for k in range(3):
                out[:, r, c] += raster_map.bary[r, c, k] * x[raster_map.tri_verts[r, c, k]]
    return out.astype(np.float32)


def sample(image: np.ndarray, raster_map: RasterMap) -> np.ndarray:
    """Image (..., C, H, W) -> per-vertex values (..., V, C): bilinear at each vertex UV, averaged over its UVs."""
    img = np.asarray(image)
    H, W = raster_map.height, raster_map.width
    if img.ndim < 3 or img.shape[-2:] != (H, W):
        raise DrapeError(f"sample: expected image (..., C, {H}, {W}), got {img.shape}")
    lead = img.shape[:-2]
    flat = img.reshape(-1, H * W).astype(np.float64)
    out = (raster_map.sample_matrix @ flat.T).T  # (prod(lead), V)
    out = out.reshape(*lead, raster_map.vert_count)
    return np.moveaxis(out, -1, -2).astype(np.float32)


def bilinear_reference(image: np.ndarray, u: float, v: float) -> np.ndarray:
    """Bilinear value of image (C, H, W) at atlas point (u, v), border-clamped taps. Slow reference."""
    C, H, W = image.shape
    x, y = u * W - 0.5, v * H - 0.5
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - x0, y - y0
    out = np.zeros(C)
    for oy, wy in ((0, 1 - fy), (1, fy)):
        for ox, wx in ((0, 1 - fx), (1, fx)):
            r = min(max(y0 + oy, 0), H - 1)
            c = min(max(x0 + ox, 0), W - 1)
            out += wy * wx * image[:, r, c]
    return out


def sample_reference(image: np.ndarray, atlas_uv: np.ndarray, faces: np.ndarray, vert_count: int) -> np.ndarray:
    """Slow reference of :func:`sample` for one image (C, H, W) -> (V, C): loops over vertices' distinct UVs."""
    img = np.asarray(image, dtype=np.float64)
    uvs: dict[int, set[tuple[float, float]]] = {}
    for t in range(len(faces)):
        for k in range(3):
            uvs.setdefault(int(faces[t, k]), set()).add((float(atlas_uv[t, k, 0]), float(atlas_uv[t, k, 1])))
    out = np.zeros((vert_count, img.shape[0]))
    for v, pts in uvs.items():
        out[v] = np.mean([bilinear_reference(img, u, w) for u, w in sorted(pts)], axis=0)
    return out.astype(np.float32)


def padded_sample_taps(m: RasterMap) -> tuple[np.ndarray, np.ndarray]:
    """Sampling taps regrouped per vertex: pixel (V, K) int64 and weight (V, K) float32, zero-weight padding.

    ``values[v] = sum_k weight[v, k] * flat_image[pixel[v, k]]`` equals :func:`drape.geometry.uv_raster.sample`.
    """
    v = m.sample_vertex.astype(np.int64)
    counts = np.bincount(v, minlength=m.vert_count)
    k = max(int(counts.max()) if len(counts) else 0, 1)
    order = np.argsort(v, kind="stable")
    slot = np.arange(len(v)) - np.repeat(np.cumsum(counts) - counts, counts)
    pixel = np.zeros((m.vert_count, k), dtype=np.int64)
    weight = np.zeros((m.vert_count, k), dtype=np.float32)
    pixel[v[order], slot] = m.sample_pixel[order]
    weight[v[order], slot] = m.sample_weight[order]
    return pixel, weight
