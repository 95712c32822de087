import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from drape.body import linear_blend_skinning
from drape.types import BodyShape, DrapeError


def _identity(body, frames):
    return np.tile(np.eye(3), (frames, body.bone_count, 1, 1))


def test_rest_frame_has_soles_on_floor(body):
    assert body.rest_verts[:, 2].min() == pytest.approx(0.0, abs=1e-6)
    assert 1.4 < body.rest_verts[:, 2].max() < 2.0
    assert body.bone_names[0] == "Hips" and body.bone_count == 31
    np.testing.assert_allclose(body.skin_weights.sum(1), 1.0, atol=1e-5)


def test_identity_pose_reproduces_rest(body):
    posed = body.pose(_identity(body, 2), np.tile(body.rest_root, (2, 1)))
    np.testing.assert_allclose(posed.verts[1], body.rest_verts, atol=1e-5)
    np.testing.assert_allclose(posed.skeleton.bone_transforms[0], np.tile(np.eye(4), (31, 1, 1)), atol=1e-5)


def test_lbs_matches_anny_posing(body):
    rot = _identity(body, 1)
    swing = Rotation.from_euler("x", -40, degrees=True).as_matrix()
    for name in ("LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase"):
        rot[0, body.bone_index(name)] = swing
    posed = body.pose(rot, body.rest_root[None] + [[0.1, -0.2, 0.05]])
    ours = linear_blend_skinning(body.rest_verts, body.skin_weights, posed.skeleton.bone_transforms)
    np.testing.assert_allclose(ours, posed.verts, atol=1e-4)
    # The leg swings forward (-y) and up.
    foot = posed.skeleton.joint_positions[0, body.bone_index("LeftFoot")]
    rest_foot = body.rest_bone_heads[body.bone_index("LeftFoot")]
    assert foot[1] < rest_foot[1] - 0.3 and foot[2] > rest_foot[2] + 0.1


def test_lbs_exact_on_tiny_rig():
    pts = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], dtype=np.float32)
    w = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    T = np.tile(np.eye(4, dtype=np.float32), (1, 2, 1, 1))
    T[0, 1, :3, 3] = [0.0, 0.0, 2.0]  # bone 1 translates up by 2
    out = linear_blend_skinning(pts, w, T)
    np.testing.assert_allclose(out[0], [[1, 0, 0], [0, 2, 1]])
    with pytest.raises(DrapeError, match="expected"):
        linear_blend_skinning(pts, w[:, :1], T)


def test_body_shape_changes_size():
    from drape.body import PROXY_TOPOLOGY, Body

    tall = Body(BodyShape.parse("height=0.9"), topology=PROXY_TOPOLOGY)
    short = Body(BodyShape.parse("height=0.1"), topology=PROXY_TOPOLOGY)
    assert tall.rest_verts[:, 2].max() > short.rest_verts[:, 2].max() + 0.2
    assert tall.leg_length > short.leg_length


def test_pose_rejects_bad_shapes(body):
    with pytest.raises(DrapeError, match=r"expected \(F, 31, 3, 3\)"):
        body.pose(np.zeros((2, 5, 3, 3)), np.zeros((2, 3)))


def test_body_shape_parsing(tmp_path):
    s = BodyShape.parse("gender=0.3, height=0.7")
    assert s.to_dict()["gender"] == 0.3 and s.to_dict()["weight"] == 0.5
    f = tmp_path / "shape.json"
    f.write_text('{"age": 0.2}')
    assert BodyShape.parse(str(f)).to_dict()["age"] == 0.2
    with pytest.raises(DrapeError, match="unknown parameter 'girth'"):
        BodyShape.parse("girth=0.3")
    with pytest.raises(DrapeError, match=r"in \[0, 1\]"):
        BodyShape.parse("height=1.7")
    with pytest.raises(DrapeError, match="expected a number"):
        BodyShape.parse("height=tall")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(DrapeError, match="bad.json line 1"):
        BodyShape.parse(str(bad))
