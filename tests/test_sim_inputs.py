import pytest

from drape.sim.inputs import resolve_garment, resolve_motion
from drape.types import DrapeError


def test_loops_repeat_a_looping_clip():
    one = resolve_motion("walk", fps=30.0)
    three = resolve_motion("walk", fps=30.0, loops=3)
    assert one.loop and three.frame_count >= 3 * one.frame_count - 3
    # A looping clip shorter than the frames asked for is repeated to reach them.
    assert resolve_motion("walk", fps=30.0, frames=2 * one.frame_count + 5).frame_count >= 2 * one.frame_count + 5


def test_loops_errors():
    with pytest.raises(DrapeError, match="needs a looping clip"):
        resolve_motion("kick", fps=30.0, loops=2)
    with pytest.raises(DrapeError, match="positive integer"):
        resolve_motion("walk", fps=30.0, loops=0)


def test_unknown_garment_names_the_library(tmp_path):
    with pytest.raises(DrapeError, match="not a library garment"):
        resolve_garment("cape")
    with pytest.raises(DrapeError, match="not found"):
        resolve_garment(str(tmp_path / "missing.obj"))
