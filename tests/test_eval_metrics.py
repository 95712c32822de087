import numpy as np
import pytest

from drape.eval import metrics as M
from drape.types import DrapeError


def _cube():
    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=np.float64)
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], dtype=np.int32)
    return v, f


def test_vertex_error_exact():
    gt = np.zeros((2, 3, 3))
    pred = gt.copy()
    pred[0, :, 0] = 0.003
    pred[1, 0] = [0.0, 0.003, 0.004]
    np.testing.assert_allclose(M.vertex_error_mm(pred, gt), [3.0, 5.0 / 3])
    with pytest.raises(DrapeError, match="one shape"):
        M.vertex_error_mm(pred[:, :2], gt)


def test_jitter_exact():
    fps = 30.0
    f = np.arange(5, dtype=np.float64)
    gt = np.zeros((5, 2, 3))
    pred = gt.copy()
    pred[:, :, 1] = 0.5 * 3.0 * (f / fps)[:, None] ** 2  # constant 3 m/s^2 along y
    np.testing.assert_allclose(M.jitter_per_frame(pred, gt, fps), [3.0, 3.0, 3.0], rtol=1e-9)
    np.testing.assert_allclose(M.acceleration(pred, fps)[:, 0, 1], 3.0, rtol=1e-9)
    np.testing.assert_array_equal(M.jitter_per_frame(gt + 0.1, gt, fps), 0.0)


def test_stretch_exact():
    faces = np.array([[0, 1, 2]])
    rest = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    frames = np.stack([rest, rest * 1.1])
    assert M.stretch_p99(frames[1:], faces, rest_verts=rest) == pytest.approx(1.1)
    panel_uv = rest[None, :, :2] * 0.5  # pattern half the size: everything stretched x2
    np.testing.assert_allclose(M.stretch_ratio(rest[None], faces, panel_uv=panel_uv), 2.0)
    with pytest.raises(DrapeError, match="rest lengths"):
        M.stretch_p99(frames, faces)


def test_penetration_exact():
    v, f = _cube()
    pts = np.array([[[0.5, 0.5, 0.5], [0.5, 0.5, 0.9995], [2, 2, 2], [0.5, 0.5, 0.99]]])  # deep, 0.5 mm, out, 10 mm
    np.testing.assert_allclose(M.penetration_pct_per_frame(pts, v[None], f), [50.0])
    np.testing.assert_allclose(M.penetration_pct_per_frame(pts, v[None], f, depth=0.2), [25.0])


def test_lbs_baseline_exact():
    class Ref:
        verts = np.array([[0.0, 0, 1], [1, 0, 0]], dtype=np.float32)
        skin_weights = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)

    T = np.tile(np.eye(4), (2, 2, 1, 1))
    T[1, 1, :3, 3] = [0.0, 0.0, 0.2]  # bone 1 moves up 0.2 m in frame 1
    out = M.lbs_baseline(Ref, T)
    np.testing.assert_allclose(out[0], Ref.verts)
    np.testing.assert_allclose(out[1], [[0, 0, 1], [1, 0, 0.1]], atol=1e-7)


def test_persistence_baseline_exact():
    """Frame f keeps frame f-1's unposed offset and is posed by frame f's skeleton."""

    class Ref:
        frame_weights = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)

    T = np.tile(np.eye(4), (3, 2, 1, 1))
    T[1, 1, :3, 3] = [0.0, 0.0, 0.2]  # bone 1 up 0.2 m in frame 1
    T[2, 0, :3, 3] = [0.1, 0.0, 0.0]  # bone 0 along x 0.1 m in frame 2 (bone 1 back home)
    verts = np.array([[[0.0, 0, 1], [1, 0, 0]],
                      [[0.0, 0, 1.5], [1, 0, 0.1]],
                      [[0.0, 0, 0], [0, 0, 0]]], dtype=np.float32)
    out = M.persistence_baseline(Ref, T, verts)
    assert out.shape == (2, 2, 3)
    # Frame 1 from frame 0 (rest pose): the rest points posed by frame 1 (vertex 1 half-carried up).
    np.testing.assert_allclose(out[0], [[0, 0, 1], [1, 0, 0.1]], atol=1e-6)
    # Frame 2 from frame 1: unposed (0, 0, 1.5) and (1, 0, 0), then carried by bone 0 (+0.1 x, half for vertex 1).
    np.testing.assert_allclose(out[1], [[0.1, 0, 1.5], [1.05, 0, 0]], atol=1e-6)
    with pytest.raises(DrapeError, match="persistence_baseline"):
        M.persistence_baseline(Ref, T, verts[:2])
