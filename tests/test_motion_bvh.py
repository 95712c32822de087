"""BVH parser and forward kinematics: exact values on a tiny file, and error messages."""

from pathlib import Path

import numpy as np
import pytest

from drape.motion.bvh import BVHError, axis_rotation, parse_bvh, read_bvh

TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 2 0 0
    }
  }
  JOINT Leg
  {
    OFFSET 0 -1 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 0 -3 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.5
0 0 0 0 0 0 0 0 0 0 0 0
1 2 3 90 0 0 0 0 90 0 0 0
0 0 0 0 0 0 30 40 50 90 0 0
"""

SHARED = Path(__file__).resolve().parents[2] / "shared" / "motions"


def test_parse_tiny_exact():
    b = parse_bvh(TINY, name="tiny.bvh")
    assert b.joint_names == ("Hips", "Arm", "Leg")
    assert b.parents.tolist() == [-1, 0, 0]
    np.testing.assert_array_equal(b.offsets, [[0, 0, 0], [1, 0, 0], [0, -1, 0]])
    assert b.channels[1] == ("Zrotation", "Xrotation", "Yrotation")
    assert b.end_sites == ((1, (2.0, 0.0, 0.0)), (2, (0.0, -3.0, 0.0)))
    assert b.frame_time == 0.5 and b.fps == 2.0 and b.frame_count == 3 and b.channel_count == 12
    assert b.channel_starts.tolist() == [0, 6, 9]
    np.testing.assert_array_equal(b.values[1], [1, 2, 3, 90, 0, 0, 0, 0, 90, 0, 0, 0])
    np.testing.assert_array_equal(b.rest_positions(), [[0, 0, 0], [1, 0, 0], [0, -1, 0]])


def test_axis_rotation_right_handed():
    np.testing.assert_allclose(axis_rotation(2, np.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(axis_rotation(0, np.pi / 2) @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(axis_rotation(1, np.pi / 2) @ [0, 0, 1], [1, 0, 0], atol=1e-12)


def test_forward_kinematics_exact():
    b = parse_bvh(TINY, name="tiny.bvh")
    pos, rot = b.forward_kinematics()
    # Frame 0: rest.
    np.testing.assert_allclose(pos[0], b.rest_positions(), atol=1e-12)
    np.testing.assert_allclose(rot[0], np.tile(np.eye(3), (3, 1, 1)), atol=1e-12)
    # Frame 1: root at (1, 2, 3) turned 90 deg about z; the arm turned 90 deg about its y.
    np.testing.assert_allclose(pos[1, 0], [1, 2, 3], atol=1e-12)
    np.testing.assert_allclose(pos[1, 1], [1, 3, 3], atol=1e-12)  # Rz90 @ (1,0,0) = (0,1,0)
    np.testing.assert_allclose(pos[1, 2], [2, 2, 3], atol=1e-12)  # Rz90 @ (0,-1,0) = (1,0,0)
    end = pos[1, 1] + rot[1, 1] @ [2, 0, 0]  # Ry90 @ (2,0,0) = (0,0,-2), unchanged by Rz90
    np.testing.assert_allclose(end, [1, 3, 1], atol=1e-12)
    # Frame 2: channel order is the listed order: Arm is Rz(30) Rx(40) Ry(50); Leg is Rx(90).
    r = np.radians
    expect = axis_rotation(2, r(30)) @ axis_rotation(0, r(40)) @ axis_rotation(1, r(50))
    np.testing.assert_allclose(rot[2, 1], expect, atol=1e-12)
    np.testing.assert_allclose(rot[2, 2] @ [0, -3, 0], [0, 0, -3], atol=1e-12)


def test_position_channels_replace_offset():
    text = TINY.replace("OFFSET 0 0 0\n  CHANNELS 6", "OFFSET 5 5 5\n  CHANNELS 6")
    b = parse_bvh(text, name="t.bvh")
    pos, _ = b.forward_kinematics()
    np.testing.assert_allclose(pos[1, 0], [1, 2, 3])


def _err(text, match):
    with pytest.raises(BVHError, match=match):
        parse_bvh(text, name="walk.bvh")


def test_error_wrong_value_count_names_file_and_line():
    lines = TINY.splitlines()
    lines[-2] = "1 2 3 90 0 0 0 0 90"  # line 29 has 9 values instead of 12
    _err("\n".join(lines), r"^walk\.bvh line 29: expected 12 channel values, got 9$")


def test_error_truncated_frames():
    _err(TINY.rsplit("\n", 2)[0], r"walk\.bvh line \d+: file truncated: Frames says 3, found 2")


def test_error_truncated_hierarchy():
    _err(TINY.split("JOINT Leg")[0], r"walk\.bvh line \d+: expected .*reached end of file")


def test_error_nan_value():
    _err(TINY.replace("1 2 3 90", "1 nan 3 90"), r"walk\.bvh line 29: channel 2 \(Hips Yposition\) is not finite")


def test_error_not_a_number():
    _err(TINY.replace("1 2 3 90", "1 x 3 90"), r"walk\.bvh line 29: channel 2 \(Hips Yposition\): expected a number")


def test_error_zero_frames():
    _err(TINY.replace("Frames: 3", "Frames: 0"), r"walk\.bvh line 26: Frames is 0")


def test_error_bad_channel_name():
    _err(TINY.replace("Zrotation Xrotation Yrotation", "Zrotation Wrotation Yrotation"),
         r"walk\.bvh line 9: joint 'Arm': unknown channel 'Wrotation'")


def test_error_channel_count_mismatch():
    _err(TINY.replace("CHANNELS 3 Zrotation Xrotation", "CHANNELS 4 Zrotation Xrotation"),
         r"walk\.bvh line \d+: joint 'Arm': CHANNELS 4 lists only 3 names")


def test_error_malformed_header_and_duplicates():
    _err("ROOT x", r"walk\.bvh line 1: expected 'HIERARCHY'")
    _err("", r"walk\.bvh line 1: expected 'HIERARCHY', got an empty file")
    _err(TINY.replace("JOINT Leg", "JOINT Arm"), r"joint name 'Arm' used twice")
    _err(TINY.replace("Frame Time: 0.5", "Frame Time: -1"), r"line 27: Frame Time must be a positive")
    _err(TINY + "1 2 3\n", r"unexpected data after the 3 frames")


def test_read_missing_file(tmp_path):
    with pytest.raises(BVHError, match="not found"):
        read_bvh(tmp_path / "nope.bvh")


def test_shared_cmu_files_parse():
    if not SHARED.is_dir():
        pytest.skip("shared motions not available")
    b = read_bvh(SHARED / "cmu" / "12_01.bvh")
    assert b.joint_count == 31 and b.channel_count == 96 and b.frame_count == 131
    assert abs(b.fps - 30.0) < 1e-3
    d = read_bvh(SHARED / "cmu-daz" / "12_01.bvh")
    assert d.joint_count == 43 and d.channel_count == 132
    assert d.channels[1] == ("Zrotation", "Xrotation", "Yrotation")
    assert np.isfinite(d.values).all()


def test_segment_specs_parse_and_cut(tmp_path):
    from drape.motion.library import load_source, segment_spec, split_segment
    from drape.types import DrapeError

    assert split_segment("walk@1.5") == ("walk", 1.5)
    assert split_segment("/a/x.bvh@3s") == ("/a/x.bvh", 3.0)
    assert split_segment("/a@b/x.bvh") == ("/a@b/x.bvh", None)
    assert split_segment("walk") == ("walk", None)
    assert segment_spec("walk", 1.5) == "walk@1.5" and segment_spec("walk", None) == "walk"
    with pytest.raises(DrapeError, match="seconds >= 0"):
        split_segment("walk@-1")
    f = tmp_path / "tiny.bvh"
    f.write_text(TINY)
    whole = load_source(f)
    part = load_source(f"{f}@0.5")
    assert part.frame_count == 2 and part.name == "tiny.bvh@0.5" and not part.loop
    np.testing.assert_array_equal(part.times, [0.0, 0.5])
    np.testing.assert_array_equal(part.local_rotations, whole.local_rotations[1:])
    np.testing.assert_array_equal(part.root_positions, whole.root_positions[1:])
    with pytest.raises(DrapeError, match="past the clip's end"):
        load_source(f"{f}@1")
