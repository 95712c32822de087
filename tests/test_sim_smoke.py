"""Physics smoke tests: a 384-vertex tube skirt on a synthetic leg swing, a few frames."""

import json

import numpy as np
import pytest

from drape.types import DrapeError

FRAMES = 3

pytestmark = pytest.mark.slow  # loads anny and Newton's kernels: ~25 s on 2 cores


@pytest.fixture(scope="module")
def body():
    from drape.body.model import Body

    return Body()


@pytest.fixture(scope="module")
def garment(body):
    from drape.sim.testing import make_tube_garment

    return make_tube_garment(body)


@pytest.fixture(scope="module")
def motion(body):
    from drape.sim.testing import make_swing_motion

    return make_swing_motion(body, frames=FRAMES, amplitude_deg=25.0)


@pytest.fixture(scope="module")
def config():
    from drape.sim.config import SimConfig

    return SimConfig(settle_frames=2, blend_frames=2)


@pytest.fixture(scope="module")
def results(garment, motion, config):
    from drape.sim.simulate import simulate

    return [simulate(garment, motion, config=config) for _ in range(2)]


def test_sequence_shapes_and_finite(results, garment, motion):
    r = results[0]
    s = r.sequence
    V = garment.vert_count
    assert s.frame_count == FRAMES
    assert s.garment_verts.shape == (FRAMES, V, 3) and s.garment_verts.dtype == np.float32
    assert s.garment_velocities.shape == (FRAMES, V, 3)
    assert s.body_verts.shape == (FRAMES, 13718, 3)
    assert s.world_rotations.shape == (FRAMES, len(motion.bone_names), 3, 3)
    assert s.root_translation.shape == (FRAMES, 3)
    assert r.rest_drape.shape == (V, 3)
    assert np.isfinite(s.garment_verts).all() and np.isfinite(s.garment_velocities).all()
    assert not r.nan and r.sec_per_frame > 0
    assert s.meta["garment"] == {"name": "tube", "kind": "skirt", "vert_count": V}
    assert s.meta["motion"]["name"] == "swing" and s.meta["solver"]["solver"] == "style3d"
    assert "rest_drape" not in s.meta
    json.dumps(s.meta)  # JSON-ready


def test_velocities_are_frame_differences(results, config):
    s = results[0].sequence
    np.testing.assert_allclose(s.garment_velocities[1:], (s.garment_verts[1:] - s.garment_verts[:-1]) * config.fps, atol=1e-3)


def test_garment_stays_near_body(results):
    from scipy.spatial import cKDTree

    s = results[0].sequence
    for f in range(s.frame_count):
        d, _ = cKDTree(s.body_verts[f]).query(s.garment_verts[f])
        assert d.max() < 0.2, f"frame {f}: garment vertex {d.max():.3f} m from the body"
    # The skirt hangs from the hips: no vertex above the waistband or below the knees.
    z = s.garment_verts[..., 2]
    assert z.max() < 1.1 and z.min() > 0.4


def test_pinned_vertices_follow_the_body_exactly(results, garment, motion, body):
    from drape.body.model import linear_blend_skinning
    from drape.sim.collider import nearest_body_weights

    s = results[0].sequence
    pin = garment.pinned
    w = nearest_body_weights(garment.verts[pin], body.rest_verts, body.skin_weights)
    posed = body.pose_motion(motion)
    expected = linear_blend_skinning(garment.verts[pin], w, posed.skeleton.bone_transforms)
    np.testing.assert_allclose(s.garment_verts[:, pin], expected, atol=1e-5)
    # In the rest drape the waistband has not moved.
    np.testing.assert_allclose(results[0].rest_drape[pin], garment.verts[pin], atol=1e-6)


def test_bit_identical_reruns(results):
    a, b = results
    assert np.array_equal(a.sequence.garment_verts, b.sequence.garment_verts)
    assert np.array_equal(a.sequence.garment_velocities, b.sequence.garment_velocities)
    assert np.array_equal(a.rest_drape, b.rest_drape)


def test_launch_replay_is_bit_identical_to_plain_launches(results, garment, motion, config, monkeypatch):
    import drape.sim.newton_cloth as newton_cloth
    from drape.sim.simulate import simulate

    assert newton_cloth.REPLAY_LAUNCHES  # the fixture's runs used recorded launches
    monkeypatch.setattr(newton_cloth, "REPLAY_LAUNCHES", False)
    plain = simulate(garment, motion, config=config)
    assert np.array_equal(plain.sequence.garment_verts, results[0].sequence.garment_verts)
    assert np.array_equal(plain.sequence.garment_velocities, results[0].sequence.garment_velocities)
    assert np.array_equal(plain.rest_drape, results[0].rest_drape)


def _skinned_rest_drape(result, garment, motion, body):
    from drape.body.model import linear_blend_skinning
    from drape.garment.weights import transfer_weights

    rest = result.rest_drape
    w = transfer_weights(rest, body, kind=garment.kind, faces=garment.faces)
    return linear_blend_skinning(rest, w, body.pose_motion(motion).skeleton.bone_transforms)


def test_tether_keeps_vertices_within_their_max_distance(results, garment, motion, body):
    from drape.sim.config import SimConfig
    from drape.sim.simulate import simulate

    config = SimConfig(settle_frames=2, blend_frames=2, tether=0.02, tether_slack=0.002)
    tethered = simulate(garment, motion, config=config)
    # Same settle: the tether acts only in the blend and motion frames.
    assert np.array_equal(tethered.rest_drape, results[0].rest_drape)
    rest = tethered.rest_drape
    radius = config.tether * (rest[:, 2].max() - rest[:, 2]) + config.tether_slack
    free = np.setdiff1d(np.arange(garment.vert_count), garment.pinned)
    target = _skinned_rest_drape(tethered, garment, motion, body)
    dist = np.linalg.norm(tethered.sequence.garment_verts - target, axis=2)[:, free]
    assert (dist <= radius[free] + 1e-5).all(), float((dist - radius[free]).max())
    # Untethered, the swinging legs carry the cloth further than that limit.
    untethered = simulate(garment, motion, config=SimConfig(settle_frames=2, blend_frames=2, tether=0.0))
    loose = np.linalg.norm(untethered.sequence.garment_verts - target, axis=2)[:, free]
    assert (loose > radius[free] + 1e-3).any()
    assert tethered.sequence.meta["solver"]["tether"] == 0.02
    assert SimConfig().tether_for("skirt") > 0 and SimConfig().tether_for("tshirt") == 0.0


def test_explosion_guard_raises_simulation_error(garment, motion):
    from drape.sim.config import SimConfig
    from drape.sim.simulate import SimulationError, simulate

    with pytest.raises(SimulationError, match="max_speed") as info:
        simulate(garment, motion, frames=2, config=SimConfig(settle_frames=1, blend_frames=0, max_speed=1e-4))
    assert info.value.frame is not None
    assert isinstance(info.value, DrapeError)


def test_input_checks(garment, motion):
    from drape.sim.config import SimConfig
    from drape.sim.simulate import simulate

    with pytest.raises(DrapeError, match="fps"):
        simulate(garment, motion, config=SimConfig(fps=60.0))
    with pytest.raises(DrapeError, match="frames must be in"):
        simulate(garment, motion, frames=FRAMES + 1)


def test_pattern_winding_is_normalised(garment):
    from dataclasses import replace

    from drape.sim.newton_cloth import pattern_rest_shape

    mirrored = replace(garment, panel_uv=garment.panel_uv * np.array([-1.0, 1.0], dtype=np.float32))
    pv, pi = pattern_rest_shape(mirrored)
    p = pv[pi]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    assert (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] > 0).all()
    # Edge lengths (the rest metric) are unchanged.
    np.testing.assert_allclose(np.linalg.norm(p[:, 1] - p[:, 0], axis=1),
                               np.linalg.norm(garment.panel_uv[:, 1] - garment.panel_uv[:, 0], axis=1), rtol=1e-6)


def test_cli_fast_setting_writes_sequence_report_and_preview(tmp_path):
    from drape.cli.main import main

    out = tmp_path / "run"
    rc = main(["simulate", "--garment", "tube", "--motion", "swing", "--frames", "2", "--settle-frames", "1",
               "--blend-frames", "1", "--substeps", "4", "--preview-frames", "1", "--no-progress", "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    for key in ("frames", "garment_vert_count", "sec_per_frame", "nan", "penetration_pct", "penetration_pct_max",
                "stretch_p99"):
        assert key in report
    assert report["frames"] == 2 and report["garment_vert_count"] == 384 and report["nan"] is False
    assert 0.0 <= report["penetration_pct"] <= 100.0 and report["stretch_p99"] > 0.5
    assert (out / "preview.png").stat().st_size > 1000
    assert (out / "rest_drape.npy").exists()
    assert any(p.name.startswith("sequence") for p in out.iterdir())


def test_cli_rejects_bad_options(tmp_path, capsys):
    from drape.cli.main import main

    rc = main(["simulate", "--garment", "tube", "--motion", "swing", "--substeps", "0", "--out", str(tmp_path)])
    assert rc == 2
    assert "SimConfig.substeps: expected" in capsys.readouterr().err
