"""``drape motions`` CLI."""

from drape.cli.main import main

from tests.test_motion_bvh import TINY  # the hand-written BVH with exact known values


def test_motions_lists_builtin_clips(capsys):
    assert main(["motions"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "frames", "fps", "seconds", "loop"]
    walk = next(line for line in lines if line.startswith("walk "))
    assert walk.split() == ["walk", "39", "30.0", "1.27", "yes"]
    assert "20 clips" in out


def test_motions_show_bvh(tmp_path, capsys):
    path = tmp_path / "tiny.bvh"
    path.write_text(TINY)
    assert main(["motions", "--show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "joints:    3" in out and "frames:    3" in out and "Arm  [Zr Xr Yr]" in out


def test_motions_show_bad_file(tmp_path, capsys):
    path = tmp_path / "bad.bvh"
    path.write_text(TINY.replace("Frames: 3", "Frames: 5"))
    assert main(["motions", "--show", str(path)]) == 2
    assert "bad.bvh line" in capsys.readouterr().err
