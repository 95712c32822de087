"""``drape motions`` CLI."""

from drape.cli.main import main

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
