import numpy as np
import pytest

from drape.geometry.uv_raster import (
    build_raster_map,
    rasterize,
    rasterize_reference,
    sample,
    sample_reference,
)
from drape.model.synthetic import prism_garment

SQUARE_FACES = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32)
SQUARE_UV = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)[SQUARE_FACES]


def test_two_triangles_exact():
    m = build_raster_map(SQUARE_UV, SQUARE_FACES, 4, dilation=0)
    r, c = np.mgrid[0:4, 0:4]
    # Triangle 0 holds v <= u (diagonal pixels go to the lower index).
    np.testing.assert_array_equal(m.tri, np.where(r <= c, 0, 1))
    assert m.mask.sum() == 16
    np.testing.assert_allclose(m.bary[0, 0], [0.875, 0.0, 0.125], atol=1e-7)
    # Pixel (r=2, c=1): u=0.375, v=0.625 in triangle 1 (0,0),(1,1),(0,1): l1=u, l2=v-u, l0=1-v.
    np.testing.assert_allclose(m.bary[2, 1], [0.375, 0.375, 0.25], atol=1e-7)
    feats = np.array([[0.0], [1.0], [2.0], [3.0]], dtype=np.float32)
    img = rasterize(feats, m)
    assert img.shape == (1, 4, 4)
    assert img[0, 0, 0] == pytest.approx(0.875 * 0 + 0.0 * 1 + 0.125 * 2)
    # Sampling: vertex 0 at uv (0,0) clamps to pixel (0,0); vertex 2 at (1,1) to pixel (3,3).
    out = sample(img, m)
    assert out.shape == (4, 1)
    assert out[0, 0] == pytest.approx(img[0, 0, 0])
    assert out[2, 0] == pytest.approx(img[0, 3, 3])
    # Vertex 1 at (1, 0) -> pixel (0, 3).
    assert out[1, 0] == pytest.approx(img[0, 0, 3])


def test_two_triangles_partial_and_empty():
    uv = SQUARE_UV * 0.5 + 0.25  # square in the middle of an 8x8 image
    m = build_raster_map(uv, SQUARE_FACES, 8, dilation=1)
    assert m.mask.sum() == 16
    assert m.mask[2:6, 2:6].all()
    # Dilation of 1 px adds the 4-neighbour ring (16 pixels), not the corners.
    assert m.filled.sum() == 32
    assert not m.filled[1, 1] and m.filled[1, 2]
    assert m.tri[0, 0] == -1


def _affine(verts, A, b):
    return verts.astype(np.float64) @ A.T + b


@pytest.mark.parametrize("size", [64, 128])
def test_round_trip_constant_and_affine(size):
    verts, faces, uv = prism_garment(6, 5)
    m = build_raster_map(uv, faces, size)
    V = len(verts)
    const = np.tile(np.array([[1.5, -2.0]], dtype=np.float32), (V, 1))
    np.testing.assert_allclose(sample(rasterize(const, m), m), const, atol=1e-5)
    rng = np.random.default_rng(0)
    A, b = rng.normal(size=(4, 3)), rng.normal(size=4)
    f = _affine(verts, A, b).astype(np.float32)
    back = sample(rasterize(f, m), m)
    np.testing.assert_allclose(back, f, atol=2e-5)


def test_round_trip_smooth_field_error_shrinks():
    verts, faces, uv = prism_garment(24, 24)
    f = np.stack([np.sin(8 * verts[:, 0]) * np.cos(6 * verts[:, 1]) + np.sin(5 * verts[:, 2])], -1).astype(np.float32)
    errs = []
    for size in (64, 128):
        m = build_raster_map(uv, faces, size)
        errs.append(np.abs(sample(rasterize(f, m), m) - f).max())
    assert errs[0] < 0.1 * np.ptp(f)
    assert errs[1] < errs[0]
    assert errs[1] < 0.03 * np.ptp(f)


def _jittered_mesh(seed=0):
    rng = np.random.default_rng(seed)
    verts, faces, uv = prism_garment(5, 4)
    uv = uv + rng.uniform(-0.01, 0.01, size=uv.shape).astype(np.float32)  # breaks alignment, keeps orientation
    return verts, faces, np.clip(uv, 0, 1)


@pytest.mark.parametrize("size", [(24, 24), (20, 31)])
def test_fast_matches_reference(size):
    verts, faces, uv = _jittered_mesh()
    h, w = size
    fast = build_raster_map(uv, faces, h, w, dilation=3)
    slow = build_raster_map(uv, faces, h, w, dilation=3, reference=True)
    np.testing.assert_array_equal(fast.tri, slow.tri)
    np.testing.assert_array_equal(fast.bary, slow.bary)
    np.testing.assert_array_equal(fast.mask, slow.mask)
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(len(verts), 3)).astype(np.float32)
    img = rasterize(feats, fast)
    np.testing.assert_allclose(img, rasterize_reference(feats, fast), atol=1e-5)
    np.testing.assert_allclose(sample(img, fast), sample_reference(img, uv, faces, len(verts)), atol=1e-5)


def test_batched_shapes():
    verts, faces, uv = prism_garment(4, 3)
    m = build_raster_map(uv, faces, 32)
    x = np.random.default_rng(0).normal(size=(2, 5, len(verts), 3)).astype(np.float32)
    img = rasterize(x, m)
    assert img.shape == (2, 5, 3, 32, 32)
    np.testing.assert_allclose(img[1, 3], rasterize(x[1, 3], m), atol=1e-6)
    assert sample(img, m).shape == (2, 5, len(verts), 3)
