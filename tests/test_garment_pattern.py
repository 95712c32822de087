"""Pattern geometry on tiny synthetic inputs (no body model needed)."""

import numpy as np

from drape.garment import pattern as pat
from drape.garment.atlas import pack_atlas


def _rect_outline(w=0.4, h=0.6):
    """Rectangle: bottom (hem, tag 1) and top (tag 2) open, sides sewn (tag 0); CCW."""
    pts = np.array([[-w / 2, 0], [w / 2, 0], [w / 2, h], [-w / 2, h]], float)
    tags = np.array([1, 0, 2, 0])
    dense, dtag = [], []
    for i in range(4):
        a, b = pts[i], pts[(i + 1) % 4]
        t = np.linspace(0, 1, 50, endpoint=False)[:, None]
        dense.append(a + (b - a) * t)
        dtag.append(np.full(50, tags[i]))
    return pat.Outline(np.concatenate(dense), np.concatenate(dtag))


def _edge_counts(faces):
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, c = np.unique(np.sort(e, 1), axis=0, return_counts=True)
    return c


def test_triangulate_and_weld_rectangle_is_a_tube():
    o = pat.resample_outline(_rect_outline(), 0.04)
    m = pat.triangulate_outline(o, 0.04)
    # planar mesh covers the rectangle exactly
    assert abs(pat.triangle_areas(m.points, m.tris).sum() - 0.24) < 1e-9
    assert (pat.triangle_areas(m.points, m.tris) > 0).all()
    two = pat.weld_two_layers(m)
    f = two.faces
    c = _edge_counts(f)
    assert c.max() == 2  # edge-manifold
    # the welded tube has exactly two boundary loops (hem, top), Euler characteristic 0
    loops = pat.boundary_loops(f)
    assert len(loops) == 2
    V = len(two.src)
    E = len(pat.edges_of(f))
    assert V - E + len(f) == 0
    # every boundary vertex is on an open edge
    assert all((two.open_tag[lp] > 0).all() for lp in loops)


def test_seam_chords_are_split():
    # a thin diamond whose Delaunay triangulation would join seam vertices across the inside
    o = _rect_outline(0.05, 0.6)
    o = pat.resample_outline(o, 0.04)
    m = pat.triangulate_outline(o, 0.04)
    two = pat.weld_two_layers(m)
    assert _edge_counts(two.faces).max() == 2


def test_resample_keeps_tag_changes():
    o = pat.resample_outline(_rect_outline(), 0.05)
    starts = np.nonzero(o.edge_tag != np.roll(o.edge_tag, 1))[0]
    corners = o.points[starts]
    expect = {(-0.2, 0.0), (0.2, 0.0), (0.2, 0.6), (-0.2, 0.6)}
    got = {tuple(np.round(c, 6)) for c in corners}
    assert got == expect


def test_arap_flattens_a_cylinder_isometrically():
    # half-cylinder patch (developable): ARAP must recover lengths
    r, n_a, n_z = 0.15, 20, 15
    a = np.linspace(0, np.pi, n_a)
    z = np.linspace(0, 0.4, n_z)
    A, Z = np.meshgrid(a, z)
    verts = np.stack([r * np.cos(A), r * np.sin(A), Z], -1).reshape(-1, 3)
    idx = np.arange(n_a * n_z).reshape(n_z, n_a)
    q = np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]], -1).reshape(-1, 4)
    faces = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    uv = pat.flatten_arap(verts, faces, iterations=30)
    e = pat.edges_of(faces)
    l3 = np.linalg.norm(verts[e[:, 0]] - verts[e[:, 1]], axis=1)
    l2 = np.linalg.norm(uv[e[:, 0]] - uv[e[:, 1]], axis=1)
    assert np.abs(l2 / l3 - 1).max() < 0.01
    # orientation preserved (no flips)
    s = pat.corner_areas(uv[faces])
    assert (s > 0).all() or (s < 0).all()


def test_arap_exact_on_flat_input():
    rng = np.random.default_rng(0)
    pts = rng.random((40, 2))
    from scipy.spatial import Delaunay

    tri = Delaunay(pts).simplices
    verts = np.c_[pts, np.zeros(len(pts))]
    d0 = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    # a rigid copy is a fixed point: distances preserved exactly
    c, s = np.cos(0.7), np.sin(0.7)
    uv = pat.flatten_arap(verts, tri, init=pts @ np.array([[c, -s], [s, c]]) + 3.0, iterations=5)
    d1 = np.linalg.norm(uv[:, None] - uv[None], axis=-1)
    assert np.abs(d0 - d1).max() < 1e-6
    # from the Tutte embedding it converges to the same shape
    uv = pat.flatten_arap(verts, tri, iterations=200)
    d1 = np.linalg.norm(uv[:, None] - uv[None], axis=-1)
    assert np.abs(d0 - d1).max() < 2e-3


def test_atlas_packs_without_overlap_and_keeps_aspect():
    rng = np.random.default_rng(1)
    uv, panel = [], []
    for p in range(5):
        w, h = rng.uniform(0.1, 0.8, 2)
        sq = np.array([[0, 0], [w, 0], [w, h], [0, 0], [w, h], [0, h]], float).reshape(2, 3, 2) + rng.normal(size=2) * 3
        uv.append(sq)
        panel += [p, p]
    uv = np.concatenate(uv)
    panel = np.array(panel)
    at = pack_atlas(uv, panel)
    assert at.min() >= 0 and at.max() <= 1
    # one uniform scale: areas proportional
    ratio = pat.corner_areas(at) / pat.corner_areas(uv)
    assert np.allclose(ratio, ratio[0])
    boxes = [(at[panel == p].reshape(-1, 2).min(0), at[panel == p].reshape(-1, 2).max(0)) for p in range(5)]
    for i in range(5):
        for j in range(i + 1, 5):
            (a0, a1), (b0, b1) = boxes[i], boxes[j]
            overlap = (a0 < b1).all() and (b0 < a1).all()
            assert not overlap


class _FakeBody:
    """Two 'legs' of points with one bone each plus a root: enough for weight transfer."""

    bone_names = ("Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase",
                  "RHipJoint", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase")

    def __init__(self):
        z = np.linspace(0.1, 0.85, 30)
        left = np.stack([np.full_like(z, 0.1), np.zeros_like(z), z], 1)
        right = left * [-1, 1, 1]
        self.rest_verts = np.concatenate([left, right]).astype(np.float32)
        W = np.zeros((60, len(self.bone_names)), np.float32)
        W[:30, 2] = 1
        W[30:, 7] = 1
        self.skin_weights = W
        heads = np.zeros((len(self.bone_names), 3), np.float32)
        heads[2] = [0.1, 0, 0.85]
        heads[3] = [0.1, 0, 0.45]
        heads[7] = [-0.1, 0, 0.85]
        heads[8] = [-0.1, 0, 0.45]
        self.rest_bone_heads = heads


def test_transfer_weights_rows_sum_to_one_and_skirt_is_symmetric_at_hem():
    from drape.garment.weights import transfer_weights

    body = _FakeBody()
    a = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    ring = np.stack([0.25 * np.cos(a), 0.2 * np.sin(a), np.full_like(a, 0.45)], 1)  # hem at knee height
    W = transfer_weights(ring, body, kind="skirt", smooth_length=0.0)
    assert np.allclose(W.sum(1), 1, atol=1e-5)
    # at knee height the thighs share the hem equally, half goes to the pelvis
    assert np.allclose(W[:, 2], W[:, 7], atol=1e-5)
    assert np.allclose(W[:, 0], 0.5, atol=1e-5)
    T = transfer_weights(ring, body, kind="trousers", smooth_length=0.0)
    right_side = ring[:, 0] > 0.05
    assert (T[right_side, 2] > 0.99).all()
