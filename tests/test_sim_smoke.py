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


def test_limit_distance_pulls_far_vertices_towards_their_sphere(garment, body):
    from drape.sim.collider import BodyCollider
    from drape.sim.config import SimConfig
    from drape.sim.newton_cloth import ClothScene

    scene = ClothScene(garment, BodyCollider(body.rest_verts, body.faces), config=SimConfig())
    V = garment.vert_count
    rng = np.random.default_rng(0)
    targets = np.asarray(garment.verts, np.float32) + rng.normal(0.0, 0.05, (V, 3)).astype(np.float32)
    q0 = scene.positions
    qd0 = rng.normal(0.0, 1.0, (V, 3)).astype(np.float32)
    scene.state_0.particle_qd.assign(qd0)
    radius = np.full(V, 0.06, np.float32)
    skip = np.arange(0, V, 7)
    max_step = 0.02
    moved = scene.limit_distance(targets, radius, skip=skip, max_step=max_step)

    d0 = np.linalg.norm(q0 - targets, axis=1)
    far = (d0 > radius)
    far[skip] = False
    assert moved == int(far.sum()) > 0
    assert (d0[far] - radius[far] > max_step).any() and (d0[far] - radius[far] < max_step).any()
    q, qd = scene.positions, scene.velocities
    expected = np.maximum(radius[far], d0[far] - max_step)  # onto the sphere, or max_step closer
    np.testing.assert_allclose(np.linalg.norm(q[far] - targets[far], axis=1), expected, atol=1e-6)
    u = (q0[far] - targets[far]) / d0[far, None]
    np.testing.assert_allclose(np.cross(q[far] - targets[far], u), 0.0, atol=1e-6)  # moved along the line to the target
    # The outward speed is removed, the rest of the velocity kept.
    out0 = np.einsum("vi,vi->v", qd0[far], u)
    np.testing.assert_allclose(np.einsum("vi,vi->v", qd[far], u), np.minimum(out0, 0.0), atol=1e-6)
    np.testing.assert_allclose(qd[far] - np.einsum("vi,vi->v", qd[far], u)[:, None] * u,
                               qd0[far] - out0[:, None] * u, atol=1e-6)
    np.testing.assert_array_equal(q[~far], q0[~far])
    np.testing.assert_array_equal(qd[~far], qd0[~far])


def _tether_excess(result, garment, motion, body, radius, *, clearance=0.02):
    """(F, V') metres past the tether radius of the unpinned vertices more than ``clearance`` off the body (else 0)."""
    from drape.body.model import linear_blend_skinning
    from drape.garment.weights import transfer_weights
    from drape.geometry.distance import MeshTopology, signed_distance

    rest = result.rest_drape
    w = transfer_weights(rest, body, kind=garment.kind, faces=garment.faces)
    target = linear_blend_skinning(rest, w, body.pose_motion(motion).skeleton.bone_transforms)
    free = np.setdiff1d(np.arange(garment.vert_count), garment.pinned)
    seq = result.sequence
    dist = np.linalg.norm(seq.garment_verts - target, axis=2)[:, free]
    topo = MeshTopology(seq.body_faces)
    off_body = np.stack([signed_distance(seq.garment_verts[f, free], seq.body_verts[f], seq.body_faces, topology=topo)
                         for f in range(seq.frame_count)]) > clearance
    return np.where(off_body, np.maximum(dist - radius[free], 0.0), 0.0)


def test_tether_holds_vertices_near_their_skinned_rest_drape(garment, motion, body):
    from drape.sim.config import SimConfig
    from drape.sim.simulate import simulate

    config = SimConfig(settle_frames=2, blend_frames=2, tether=0.02, tether_slack=0.002)
    tethered = simulate(garment, motion, config=config)
    untethered = simulate(garment, motion, config=SimConfig(settle_frames=2, blend_frames=2, tether=0.0))
    # Same settle: the tether acts only in the blend and motion frames.
    assert np.array_equal(tethered.rest_drape, untethered.rest_drape)
    rest = tethered.rest_drape
    radius = config.tether * (rest[:, 2].max() - rest[:, 2]) + config.tether_slack
    loose = _tether_excess(untethered, garment, motion, body, radius)
    held = _tether_excess(tethered, garment, motion, body, radius)
    # Away from the body (where the tether does not yield to contact), the swinging legs carry the
    # untethered cloth up to 13 mm past the limit; tethered, about one substep's motion.
    assert loose.max() > 0.01
    assert held.max() < 0.5 * loose.max() and held.mean() < 0.6 * loose.mean()
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
