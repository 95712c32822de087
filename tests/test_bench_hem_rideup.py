"""benchmarks/hem_rideup.py: exact hem and waistband heights on a tiny hand-made sequence."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "hem_rideup.py"
_spec = importlib.util.spec_from_file_location("hem_rideup", _PATH)
hem_rideup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hem_rideup)


def _climbing_skirt():
    # 20 vertices: one hem vertex row at z=-0.4 (2 of them, the lowest 10%), waist at z=+0.1 (1 vertex, the top 5%),
    # the rest in between; the hem climbs 1 cm per frame, the root walks along y.
    F = 5
    z = np.linspace(-0.3, 0.05, 17)
    base = np.concatenate([[[0.02, 0, -0.4], [0.2, 0, -0.4]], np.stack([np.full(17, 0.3), np.zeros(17), z], 1),
                           [[0.0, 0.0, 0.1]]])
    root = np.stack([np.zeros(F), np.arange(F) * 0.1, np.zeros(F)], 1)
    verts = np.repeat(base[None], F, 0) + root[:, None, :]
    verts[:, :2, 2] += np.arange(F)[:, None] * 0.01
    return verts, root


def test_hem_profile_exact():
    verts, root = _climbing_skirt()
    out = hem_rideup.hem_profile(verts, root, every=2)
    assert out["frames"] == 5
    assert out["sampled"] == [0, 2, 4]
    assert out["hem_z_cm"] == pytest.approx([-40.0, -38.0, -36.0])
    assert out["waist_z_cm"] == pytest.approx([10.0, 10.0, 10.0])
    assert out["hem_rise_cm"] == pytest.approx(4.0)
    # one of the two hem vertices lies within 6 cm of the mid-plane (x = 0.02)
    assert out["hem_mid_fraction"] == pytest.approx([0.5, 0.5, 0.5])


def test_hem_profile_rejects_bad_shapes():
    verts, root = _climbing_skirt()
    with pytest.raises(ValueError, match=r"\(F, V, 3\)"):
        hem_rideup.hem_profile(verts[0], root, every=1)
    with pytest.raises(ValueError, match="every"):
        hem_rideup.hem_profile(verts, root, every=0)
