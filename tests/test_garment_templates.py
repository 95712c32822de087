"""Library garments on the anny body: mesh validity, pattern, placement, atlas, weights."""

import numpy as np
import pytest

from drape.garment import pattern as pat

NAMES = ("tshirt", "skirt", "dress", "trousers", "shorts")
SMALL = 800


@pytest.fixture(scope="module")
def ctx():
    from drape.garment.templates import _body_context

    return _body_context(None)


@pytest.fixture(scope="module")
def garments(ctx):
    from drape.garment.templates import make_garment

    return {n: make_garment(n, vert_count=SMALL) for n in NAMES}


def test_library_lists_every_template():
    from drape.garment.templates import garment_library

    lib = garment_library()
    assert [r[0] for r in lib] == list(NAMES)
    for name, kind, desc, defaults in lib:
        assert desc and kind and 2000 <= defaults["vert_count"] <= 10000


@pytest.mark.parametrize("name", NAMES)
def test_mesh_is_edge_manifold_oriented_and_open_only_at_hems(garments, name):
    g = garments[name]
    f = g.faces.astype(np.int64)
    assert abs(g.vert_count - SMALL) < 0.15 * SMALL
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    _, cnt = np.unique(np.sort(e, 1), axis=0, return_counts=True)
    assert cnt.max() == 2
    # consistent orientation: each interior edge is used once in each direction
    _, dcnt = np.unique(e, axis=0, return_counts=True)
    assert dcnt.max() == 1
    # no degenerate triangles
    area = pat.triangle_areas(g.verts, f)
    assert area.min() > 1e-3 * np.median(area)
    # boundaries: exactly the open edges of the template
    loops = pat.boundary_loops(f)
    expect = {"tshirt": 4, "dress": 4, "skirt": 2, "trousers": 3, "shorts": 3}[name]  # hem(s), cuffs, neck, waist
    assert len(loops) == expect
    assert sum(len(lp) for lp in loops) == sum(g.meta["open_edges"].values())


@pytest.mark.parametrize("name", NAMES)
def test_normals_point_away_from_body(garments, ctx, name):
    g = garments[name]
    v = g.verts.astype(np.float64)
    t = v[g.faces]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    _, nb = ctx["proximity"].signed_distance(t.mean(1))
    assert ((n * nb).sum(1) > 0).mean() > 0.95


@pytest.mark.parametrize("name", NAMES)
def test_pattern_areas_match_placement(garments, name):
    g = garments[name]
    a3 = pat.triangle_areas(g.verts, g.faces)
    a2 = pat.corner_areas(g.panel_uv.astype(np.float64))
    assert (a2 > 0).all()  # no flipped pattern triangles
    r = a2 / a3
    assert abs(a2.sum() / a3.sum() - 1) < 0.10
    assert abs(np.median(r) - 1) < 0.05
    assert np.percentile(r, 2) > 0.6 and np.percentile(r, 98) < 1.5


def _coverage(atlas_uv, res=256):
    """Per-pixel count of atlas triangles covering the pixel centre."""
    cnt = np.zeros((res, res), np.int32)
    c = (np.arange(res) + 0.5) / res
    for t in atlas_uv.astype(np.float64):
        lo = np.floor(t.min(0) * res).astype(int)
        hi = np.ceil(t.max(0) * res).astype(int)
        xs, ys = c[lo[0]:hi[0]], c[lo[1]:hi[1]]
        if not len(xs) or not len(ys):
            continue
        X, Y = np.meshgrid(xs, ys, indexing="ij")
        p = np.stack([X, Y], -1)
        a, b, cc = t
        d = (b[0] - a[0]) * (cc[1] - a[1]) - (b[1] - a[1]) * (cc[0] - a[0])
        w1 = ((p[..., 0] - a[0]) * (cc[1] - a[1]) - (p[..., 1] - a[1]) * (cc[0] - a[0])) / d
        w2 = ((b[0] - a[0]) * (p[..., 1] - a[1]) - (b[1] - a[1]) * (p[..., 0] - a[0])) / d
        inside = (w1 > 1e-9) & (w2 > 1e-9) & (w1 + w2 < 1 - 1e-9)
        cnt[lo[0]:lo[0] + len(xs), lo[1]:lo[1] + len(ys)] += inside
    return cnt


@pytest.mark.parametrize("name", ("tshirt", "skirt"))
def test_atlas_in_unit_square_without_overlap(garments, name):
    g = garments[name]
    assert g.atlas_uv.min() >= 0 and g.atlas_uv.max() <= 1
    cnt = _coverage(g.atlas_uv)
    assert cnt.max() == 1
    assert (cnt > 0).mean() > 0.3  # reasonably packed


@pytest.mark.parametrize("name", NAMES)
def test_placement_outside_body(garments, ctx, name):
    d = ctx["proximity"].exact_signed_distance(garments[name].verts)
    assert d.min() > 0.005


def test_pins_are_the_waistband(garments, ctx):
    m = ctx["measures"]
    for name in ("skirt", "trousers", "shorts"):
        g = garments[name]
        assert len(g.pinned) > 10
        assert np.allclose(g.verts[g.pinned, 2], m.z_waist, atol=2e-3)
    assert len(garments["tshirt"].pinned) == 0


def test_tshirt_sleeves_follow_the_a_pose_arms(garments, ctx):
    g = garments["tshirt"]
    body = ctx["body"]
    loops = pat.boundary_loops(g.faces)
    sj = body.rest_bone_heads[body.bone_index("LeftArm")]
    el = body.rest_bone_heads[body.bone_index("LeftForeArm")]
    axis = (el - sj) / np.linalg.norm(el - sj)
    cuff = max(loops, key=lambda lp: g.verts[lp, 0].mean())  # left cuff: the most +x loop
    c = g.verts[cuff].mean(0)
    off = c - sj
    # the cuff centre lies on the arm axis, well below the shoulder (A-pose: about 45 degrees down)
    assert np.linalg.norm(off - (off @ axis) * axis) < 0.04
    assert off @ axis > 0.05
    assert c[2] < sj[2] - 0.04


def test_skirt_yoke_pins_the_band_below_the_waist(garments, ctx):
    from drape.garment.errors import GarmentError
    from drape.garment.templates import make_garment

    z_waist = ctx["measures"].z_waist
    plain = garments["skirt"]
    yoked = make_garment("skirt", vert_count=SMALL, yoke=0.1)
    np.testing.assert_array_equal(yoked.verts, plain.verts)  # the same cloth, more of it pinned
    assert set(plain.pinned) < set(yoked.pinned)
    z = yoked.verts[:, 2]
    np.testing.assert_array_equal(np.sort(yoked.pinned), np.nonzero(np.isin(np.arange(len(z)), plain.pinned) | (z > z_waist - 0.1))[0])
    assert yoked.meta["params"]["yoke"] == 0.1
    with pytest.raises(GarmentError, match="yoke"):
        make_garment("skirt", vert_count=SMALL, yoke=0.5)


def test_options_change_size(ctx):
    from drape.garment.templates import make_garment

    short = make_garment("skirt", vert_count=500, length=0.3)
    long = make_garment("skirt", vert_count=500, length=0.6)
    assert np.ptp(long.verts[:, 2]) - np.ptp(short.verts[:, 2]) == pytest.approx(0.3, abs=0.02)
    tight = make_garment("tshirt", vert_count=500, ease=0.0)
    loose = make_garment("tshirt", vert_count=500, ease=0.3)
    assert np.ptp(loose.verts[:, 1]) > np.ptp(tight.verts[:, 1]) + 0.02


def test_bad_parameters_raise(ctx):
    from drape.garment.errors import GarmentError
    from drape.garment.templates import make_garment

    with pytest.raises(GarmentError, match="unknown"):
        make_garment("cape")
    with pytest.raises(GarmentError, match="ease"):
        make_garment("skirt", ease=5.0)
    with pytest.raises(GarmentError, match="length"):
        make_garment("skirt", length=0.01)


# ---------------------------------------------------------------------------- weights
def _pose(body, chains):
    from scipy.spatial.transform import Rotation

    J = body.bone_count
    R = np.tile(np.eye(3), (1, J, 1, 1))
    for name, (axis, deg) in chains.items():
        r = Rotation.from_euler(axis, deg, degrees=True).as_matrix()
        stack = [body.bone_index(name)]
        while stack:
            c = stack.pop()
            R[0, c] = r
            stack += [k for k in range(J) if body.bone_parents[k] == c]
    return body.pose(R, body.rest_root[None].astype(np.float64))


def _edge_ratios(g, posed_verts, edges):
    l0 = np.linalg.norm(g.verts[edges[:, 0]] - g.verts[edges[:, 1]], axis=1)
    l1 = np.linalg.norm(posed_verts[edges[:, 0]] - posed_verts[edges[:, 1]], axis=1)
    return l1 / l0


@pytest.mark.parametrize("name", ("skirt", "dress"))
def test_skirt_hem_is_not_torn_by_a_stride(garments, ctx, name):
    from drape.garment.weights import nearest_skin_weights, transfer_weights

    body = ctx["body"]
    g = garments[name]
    W = transfer_weights(g.verts, body, kind=g.kind, faces=g.faces)
    assert W.shape == (g.vert_count, body.bone_count)
    assert np.allclose(W.sum(1), 1, atol=1e-5) and W.min() >= 0
    hem = min(pat.boundary_loops(g.faces), key=lambda lp: g.verts[lp, 2].mean())
    hem_e = np.stack([hem, np.roll(hem, -1)], 1)
    all_e = pat.edges_of(g.faces)
    for chains in ({"LeftUpLeg": ("x", -20), "RightUpLeg": ("x", 20)},  # walk stride, 40 degrees apart
                   {"LeftUpLeg": ("y", -20), "RightUpLeg": ("y", 20)}):  # legs spread
        posed = _pose(body, chains)
        X = body.skin(g.verts, W, posed.skeleton)[0]
        assert _edge_ratios(g, X, hem_e).max() < 1.15
        assert _edge_ratios(g, X, all_e).max() < 1.5
        # the naive nearest-skin weights do tear it
        Xn = body.skin(g.verts, nearest_skin_weights(g.verts, body.rest_verts, body.skin_weights), posed.skeleton)[0]
        assert _edge_ratios(g, Xn, hem_e).max() > 3.0


def test_tshirt_sleeves_follow_the_arms(garments, ctx):
    from drape.garment.weights import transfer_weights

    body = ctx["body"]
    g = garments["tshirt"]
    W = transfer_weights(g.verts, body, kind="tshirt", faces=g.faces)
    assert np.allclose(W.sum(1), 1, atol=1e-5)
    posed = _pose(body, {"LeftArm": ("y", -40), "RightArm": ("y", 40)})  # raise both arms
    X = body.skin(g.verts, W, posed.skeleton)[0]
    i, j = body.bone_index("LeftArm"), body.bone_index("LeftForeArm")

    def seg_dist(p, a, b):
        ab = b - a
        t = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
        return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)

    heads0 = body.rest_bone_heads
    heads1 = posed.skeleton.joint_positions[0]
    assert heads1[j, 2] > heads0[j, 2] + 0.1  # the elbow did go up
    sleeve = seg_dist(g.verts, heads0[i], heads0[j]) < 0.09
    sleeve &= (g.verts - heads0[i]) @ (heads0[j] - heads0[i]) > 0.3 * np.sum((heads0[j] - heads0[i]) ** 2)
    d0 = seg_dist(g.verts[sleeve], heads0[i], heads0[j])
    d1 = seg_dist(X[sleeve], heads1[i], heads1[j])
    assert sleeve.sum() > 10
    dd = np.abs(d1 - d0)
    # the sleeve keeps its distance to the arm bone (LBS blends a little near the shoulder seam)
    assert np.median(dd) < 0.005 and np.percentile(dd, 90) < 0.015 and dd.max() < 0.04
