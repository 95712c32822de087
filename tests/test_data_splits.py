import pytest

from drape.data.splits import (
    EXCLUDED_BUILTINS,
    PRIORITY_MOTIONS,
    TEST_MOTIONS,
    VAL_MOTIONS,
    bvh_duration,
    clip_segments,
    dataset_motions,
    held_out_motions,
    motion_key,
    offset_segments,
)


def test_motion_key_names_bvh_by_stem():
    assert motion_key("/a/b/cmu-daz/07_01.bvh") == "07_01"
    assert motion_key("walk") == "walk"
    # A segment is known by its whole clip, so no part of a held-out clip can train.
    assert motion_key("/a/b/cmu/18_10.bvh@6") == "18_10"
    assert motion_key("turn_right1@0.5") == "turn_right1"


def test_clip_segments_cover_whole_segments_only():
    assert clip_segments("x.bvh", 9.5, 3.0) == ["x.bvh@3", "x.bvh@6"]
    assert clip_segments("x.bvh", 9.0, 3.0) == ["x.bvh@3", "x.bvh@6"]
    assert clip_segments("x.bvh", 5.9, 3.0) == []


def test_offset_segments_are_shifted_by_half_a_segment():
    assert offset_segments("x.bvh", 9.5, 3.0) == ["x.bvh@1.5", "x.bvh@4.5"]
    assert offset_segments("x.bvh", 7.5, 3.0) == ["x.bvh@1.5", "x.bvh@4.5"]
    assert offset_segments("x.bvh", 4.4, 3.0) == []


def test_bvh_duration_reads_the_header(tmp_path):
    f = tmp_path / "a.bvh"
    f.write_text("HIERARCHY\nROOT Hips\n{\n}\nMOTION\nFrames: 240\nFrame Time: 0.008333333\n0 0 0\n")
    assert bvh_duration(f) == pytest.approx(2.0, abs=1e-6)
    (tmp_path / "b.bvh").write_text("HIERARCHY\n")
    with pytest.raises(ValueError, match="Frames"):
        bvh_duration(tmp_path / "b.bvh")


def test_dataset_motions_hold_out_test_motions(shared_dir):
    motions = dataset_motions(shared_dir)
    keys = [motion_key(m) for m in motions]
    assert not set(keys) & set(TEST_MOTIONS), "a test motion leaked into the training dataset"
    assert not set(keys) & set(EXCLUDED_BUILTINS)
    assert set(VAL_MOTIONS) <= set(keys)
    assert len(set(motions)) == len(motions) and len(motions) > 40
    # Both conversions of a held-out CMU trial stay out: no file of a test stem anywhere.
    assert not any(motion_key(m) == "07_01" for m in motions)
    # Every whole clip comes before every segment (a partial build covers the most clips); the
    # priority motions follow the first 18 clips, and their segments come first among the segments.
    seg = [m for m in motions if "@" in m]
    assert seg and all(motion_key(m) not in TEST_MOTIONS for m in seg)
    first_seg = motions.index(seg[0])
    assert "@" not in "".join(motions[:first_seg]) and all("@" in m for m in motions[first_seg:])
    assert [motion_key(m) for m in motions[18 : 18 + len(PRIORITY_MOTIONS)]] == list(PRIORITY_MOTIONS)
    assert motion_key(seg[0]) == PRIORITY_MOTIONS[0] and seg[0].endswith("@3")
    assert any(m.endswith("19_10.bvh@3") for m in seg)
    assert any(m.endswith("19_10.bvh@1.5") for m in seg) and not any(m.endswith("18_10.bvh@1.5") for m in seg)


def test_test_motions_are_exactly_the_held_out_ones(shared_dir):
    specs = held_out_motions(shared_dir)
    assert sorted(motion_key(m) for m in specs) == sorted(TEST_MOTIONS)
    assert not set(specs) & set(dataset_motions(shared_dir))
