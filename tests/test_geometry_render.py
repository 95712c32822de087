"""Software rasterizer: coverage, depth order, contact sheet."""

import numpy as np
import pytest

from drape.geometry.render import BACKGROUND, rasterize, render_frames, render_meshes

QUAD_V = np.array([[-0.5, 0, -0.5], [0.5, 0, -0.5], [0.5, 0, 0.5], [-0.5, 0, 0.5]], float)
QUAD_F = np.array([[0, 1, 2], [0, 2, 3]])


def test_rasterize_covers_pixel_centres_once():
    # Two triangles tiling a 4x4 pixel square: every pixel centre inside gets exactly one face.
    xy = np.array([[[0, 0], [4, 0], [4, 4]], [[0, 0], [4, 4], [0, 4]]], float)
    face, depth = rasterize(xy, np.zeros((2, 3)), 6, 6)
    assert (face[:4, :4] >= 0).all() and (face[4:, :] == -1).all() and (face[:, 4:] == -1).all()
    assert face[0, 3] == 0 and face[3, 0] == 1  # above / below the diagonal (y down)
    assert np.isinf(depth[5, 5])


def test_rasterize_depth_order():
    xy = np.array([[[0, 0], [8, 0], [0, 8]]] * 2, float)
    face, depth = rasterize(xy, np.array([[2.0] * 3, [1.0] * 3]), 8, 8)
    assert face[1, 1] == 1 and depth[1, 1] == 1.0


def test_render_mesh_pixels_where_the_mesh_is():
    # A square facing the front camera (-y), framed to fill the middle half of the image.
    img = render_meshes([(QUAD_V, QUAD_F, (200, 0, 0))], view="front", size=64,
                        bounds=(np.zeros(3), 1.0), supersample=1)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    inside = img[20:44, 20:44]
    assert (inside[..., 1] == 0).all() and (inside[..., 0] > 60).all()
    assert (img[:12] == BACKGROUND).all() and (img[:, 52:] == BACKGROUND).all()
    # Seen edge-on from the side it covers (almost) nothing.
    side = render_meshes([(QUAD_V, QUAD_F, (200, 0, 0))], view="side", size=64, bounds=(np.zeros(3), 1.0))
    assert (side == BACKGROUND).all(axis=-1).mean() > 0.95


def test_render_front_body_left_on_image_right():
    # A quad at x > 0 (the body's left) appears on the image's right from the front.
    v = QUAD_V * 0.2 + [0.5, 0, 0]
    img = render_meshes([(v, QUAD_F, (0, 0, 200))], view="front", size=32, bounds=(np.zeros(3), 1.0))
    cols = np.flatnonzero((img != BACKGROUND).any(axis=(0, 2)))
    assert cols.min() > 16


def test_render_frames_sheet():
    body = np.stack([QUAD_V + [0, 0, 0.1 * i] for i in range(5)])
    garment = body[:, :, :] * 0.5 - [0, 0.1, 0]
    sheet = render_frames(body, QUAD_F, garment, QUAD_F, frame_indices=[0, 2, 4], views=("front", 30.0), size=40)
    assert sheet.size == (120, 80)
    a = np.asarray(sheet)
    assert (a != BACKGROUND).any(axis=-1).mean() > 0.1
    with pytest.raises(ValueError, match="out of range"):
        render_frames(body, QUAD_F, garment, QUAD_F, frame_indices=[7])
    with pytest.raises(ValueError, match="view"):
        render_frames(body, QUAD_F, None, None, views=("sideways",))


def test_render_preview_writes_png(tmp_path):
    from PIL import Image

    from drape.geometry.render import render_preview

    body = np.stack([QUAD_V, QUAD_V + [0, 0, 0.1]])
    out = render_preview(tmp_path / "p.png", body, QUAD_F, body * 0.5, QUAD_F, titles=["a", "b"], size=32)
    assert Image.open(out).size == (64, 64)


def test_sheet_bounds_shared_unless_the_motion_travels_far():
    from drape.geometry.render import _sheet_bounds, view_camera

    cam = view_camera("front")
    # Unit quads (1 m wide) moving 0.5 m sideways: one shared framing fitted to both.
    near = [[QUAD_V], [QUAD_V + [0.5, 0, 0]]]
    (c0, h0), (c1, h1) = _sheet_bounds(cam, near, margin=0.0)
    assert h0 == h1 == pytest.approx(0.75) and np.allclose(c0, c1)
    # 10 m apart: the shared box (5.5 m half extent) is over 2x one frame's (0.5 m), so each tile is
    # centred on its own quad at the single-frame scale.
    far = [[QUAD_V], [QUAD_V + [10.0, 0, 0]]]
    (c0, h0), (c1, h1) = _sheet_bounds(cam, far, margin=0.0)
    assert h0 == h1 == pytest.approx(0.5)
    assert np.allclose(c0, cam.to_view(np.zeros((1, 3)))[0])
    assert np.allclose(c1, cam.to_view(np.array([[10.0, 0, 0]]))[0])
