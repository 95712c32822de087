import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from drape.data.windows import fit_normalizer, split_by_motion, synthetic_training_data  # noqa: E402
from drape.model.dynamics import GarmentDynamicsModel, ModelConfig  # noqa: E402
from drape.train import losses as L  # noqa: E402
from drape.train.trainer import TrainConfig, TrainError, load_checkpoint, output_paths, train  # noqa: E402

SMALL = ModelConfig(image_size=32, widths="16,32", film_hidden=32)


@pytest.fixture(scope="module")
def data():
    return synthetic_training_data(motions=4, frames=24)


def test_vertex_losses_exact():
    pred = torch.zeros(2, 4, 3)
    tgt = torch.zeros(2, 4, 3)
    tgt[..., 0] = 0.003
    tgt[..., 1] = 0.004  # every vertex 5 mm away
    assert float(L.vertex_l2_mm(pred, tgt)) == pytest.approx(5.0)
    assert float(L.vertex_l1_mm(pred, tgt)) == pytest.approx(7.0 / 3)
    assert float(L.vertex_mse_mm2(pred, tgt)) == pytest.approx(25.0)


def test_strain_velocity_jitter_exact():
    verts = torch.tensor([[0.0, 0, 0], [1.1, 0, 0], [0, 0.9, 0]])
    edges = torch.tensor([[0, 1], [0, 2]])
    assert float(L.edge_strain_pct(verts, edges, torch.tensor([1.0, 1.0]))) == pytest.approx(10.0)
    x = torch.zeros(4, 2, 3)
    y = x.clone()
    y[:, :, 2] = 0.001 * torch.arange(4.0)[:, None] ** 2  # constant acceleration 2 mm/frame^2
    assert float(L.jitter_mm(x, y)) == pytest.approx(2.0)
    assert float(L.jitter_mm(y, y)) == 0.0
    assert float(L.velocity_mm(x[2], y[2], x[1], y[1])) == pytest.approx(3.0)


def test_contact_distance_and_penetration_hinge(data):
    ref = data.reference
    T = torch.from_numpy(data.tracks[0].transforms[:1])  # (1, J, 4, 4)
    rest = torch.from_numpy(ref.verts)
    x = torch.from_numpy(np.einsum("ab,vb->va", T[0, 0, :3, :3].numpy(), ref.verts) + T[0, 0, :3, 3].numpy())[None]
    d = L.contact_distance(ref, x, T)
    assert d.shape == (1, ref.vert_count) and bool((d > -1e-6).all())  # the garment hangs outside the body prism
    # Largest gap: a garment panel's middle over a body face = difference of the prisms' inradii (0.3 vs 0.15 m sides).
    assert float(d.max()) == pytest.approx((0.3 - 0.15) / (2 * np.sqrt(3)), abs=1e-5)
    # Rigid motion (root-bound body) leaves the distances unchanged.
    d_rest = L.contact_distance(ref, rest[None], torch.eye(4).expand(1, 2, 4, 4))
    torch.testing.assert_close(d, d_rest, atol=1e-5, rtol=0)
    assert float(L.penetration_mm(d)) < 1e-5
    assert float(L.penetration_mm(torch.tensor([-0.002, 0.001]))) == pytest.approx(1.0)
    # With a ground-truth floor, only depth beyond the truth's counts.
    assert float(L.penetration_mm(torch.tensor([-0.002]), floor=torch.tensor([-0.0015]))) == pytest.approx(0.5)


def test_contact_planes_and_plane_distance_exact():
    """A unit square body in z = 0 (normals +z) under a garment 1 cm above it: planes, distances, gradient."""
    from drape.data.windows import Track, WindowDataset
    from drape.model.synthetic import synthetic_reference

    ref = synthetic_reference(4, 4)
    F, V = 6, ref.vert_count
    body = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.uniform(0, 1, (F, V, 2)), np.full((F, V, 1), 0.01)], -1).astype(np.float32)
    T = np.tile(np.eye(4, dtype=np.float32), (F, 2, 1, 1))
    tr = Track(name="sq", motion="sq", fps=30.0, verts=X, transforms=T, body_verts=np.tile(body, (F, 1, 1)),
               body_faces=np.array([[0, 1, 2], [0, 2, 3]], np.int32))
    ds = WindowDataset(ref, [tr], window=2, max_unroll=2, fps=30.0)
    pl = ds.contact_planes([0, 1], 2)
    assert pl["point"].shape == (2, 2, V, 3) and pl["gt_distance"].shape == (2, 2, V)
    np.testing.assert_allclose(pl["normal"][..., 2], 1.0, atol=1e-6)
    np.testing.assert_allclose(pl["gt_distance"], 0.01, atol=1e-6)
    np.testing.assert_allclose(pl["point"][..., 2], 0.0)
    x = torch.tensor(X[3:5][None] - np.array([0, 0, 0.015], np.float32), requires_grad=True)  # 5 mm below the body
    d = L.plane_distance(x, pl["point"][:1], pl["normal"][:1])
    torch.testing.assert_close(d, torch.full((1, 2, V), -0.005), atol=1e-6, rtol=0)
    d.sum().backward()
    torch.testing.assert_close(x.grad[..., 2], torch.ones(1, 2, V))
    assert float(L.penetration_mm(d.detach(), floor=torch.from_numpy(pl["gt_distance"][:1]))) == pytest.approx(5.0, abs=1e-3)


def test_history_noise_drift_is_smooth_shared_and_sized():
    from drape.train.trainer import history_noise, smooth_field

    pts = np.random.default_rng(0).uniform(-0.3, 0.3, (600, 3)).astype(np.float32)
    f = smooth_field(pts, 300, 0.015, torch.Generator().manual_seed(0))
    assert f.shape == (300, 600, 3)
    assert float(f.pow(2).sum(-1).mean().sqrt()) == pytest.approx(0.015, rel=0.15)
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    i, j = np.nonzero((d < 0.02) & (d > 0))
    assert float((f[:, i] - f[:, j]).pow(2).sum(-1).mean().sqrt()) < 0.15 * 0.015  # smooth at 2 cm
    cfg = TrainConfig(noise_std=0.0, drift_noise_std=0.01)
    n = history_noise((2, 3, 600, 3), pts, cfg, torch.Generator().manual_seed(1))
    torch.testing.assert_close(n[:, 0], n[:, 2])  # one field for all history frames: velocities untouched
    again = history_noise((2, 3, 600, 3), pts, cfg, torch.Generator().manual_seed(1))
    torch.testing.assert_close(n, again, atol=0, rtol=0)
    assert history_noise((2, 3, 600, 3), pts, TrainConfig(noise_std=0.0, drift_noise_std=0.0), None) is None


def test_weight_average_exact_and_swapped_in():
    from drape.train.trainer import WeightAverage

    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(1.0)
        net.bias.fill_(0.0)
    ema = WeightAverage(net, 0.9)
    with torch.no_grad():
        net.weight.fill_(3.0)
    ema.update(1)  # warm-up: d = min(0.9, 2/11)
    d = 2 / 11
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), d * 1 + (1 - d) * 3))
    ema.update(1000)  # d = 0.9
    w = d * 1 + (1 - d) * 3
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), 0.9 * w + 0.1 * 3))
    with ema.applied():
        assert torch.allclose(net.weight, ema.shadow["weight"])
    assert torch.equal(net.weight, torch.full((1, 2), 3.0))  # raw weights back


def test_running_mean_exact_swapped_in_and_restored():
    from drape.train.trainer import RunningMean

    net = torch.nn.Linear(2, 1)
    m = RunningMean()
    for w in (1.0, 2.0, 6.0):
        m.add({"weight": torch.full((1, 2), w), "bias": torch.full((1,), -w)})
    assert m.count == 3
    assert torch.equal(m.mean["weight"], torch.full((1, 2), 3.0)) and torch.equal(m.mean["bias"], torch.full((1,), -3.0))
    own = net.weight.detach().clone()
    with m.applied(net):
        assert torch.equal(net.weight, torch.full((1, 2), 3.0))
    assert torch.equal(net.weight, own)
    again = RunningMean(m.state())
    again.add({"weight": torch.full((1, 2), 7.0), "bias": torch.full((1,), -7.0)})
    assert again.count == 4 and torch.equal(again.mean["weight"], torch.full((1, 2), 4.0))
    assert m.count == 3 and torch.equal(m.mean["weight"], torch.full((1, 2), 3.0))  # the state was copied
    with pytest.raises(TrainError, match="no snapshot"):
        RunningMean().applied(net).__enter__()


def test_weight_mean_is_validated_kept_when_best_and_resumed(tmp_path, data):
    from drape.train.trainer import validate

    cfg = TrainConfig(steps=6, batch_size=2, unroll=1, lr=3e-3, warmup_steps=1, val_motions="synth3", val_every=2,
                      val_frames=8, checkpoint_every=2, seed=4, swa_start=2)
    quiet = dict(model_config=SMALL, progress=False, log=lambda *_: None)
    straight = train(cfg, data, "prism", tmp_path / "a.npz", **quiet)
    swa = [(v["step"], v["swa_count"]) for v in straight.val_history if "swa_mm" in v]
    assert swa == [(4, 2), (6, 3)]  # snapshots at steps 2, 4, 6; the mean is validated once it holds two
    report = json.loads(output_paths(tmp_path / "a.npz")["report"].read_text())
    scores = {("ema", v["step"]): v["val_mm"] for v in straight.val_history}
    scores.update({("swa", v["step"]): v["swa_mm"] for v in straight.val_history if "swa_mm" in v})
    kind, step = min(scores, key=scores.get)
    assert (report["best_weights"], report["best_step"]) == (kind, step) and report["best_val_mm"] == scores[(kind, step)]
    _, val_tracks = split_by_motion(data.tracks, ("synth3",))
    saved = GarmentDynamicsModel.load(tmp_path / "a.npz")
    assert validate(saved, val_tracks, 8)["val_mm"] == pytest.approx(report["best_val_mm"], rel=1e-5)
    # The running mean is in the checkpoint: a killed and resumed run validates the same means.
    train(cfg, data, "prism", tmp_path / "b.npz", max_steps=5, **quiet)
    resumed = train(cfg, data, "prism", tmp_path / "b.npz", **quiet)
    assert [v.get("swa_mm") for v in resumed.val_history] == [v.get("swa_mm") for v in straight.val_history]


def test_config_schedules():
    c = TrainConfig(steps=100, unroll=4, curriculum=0.5, warmup_steps=10, lr=1e-3, lr_final=0.1)
    assert [c.unroll_at(s) for s in (0, 12, 13, 25, 37, 38, 50, 99)] == [1, 1, 2, 3, 3, 4, 4, 4]
    assert c.lr_at(0) == pytest.approx(1e-4) and c.lr_at(9) == pytest.approx(1e-3)
    assert c.lr_at(99) == pytest.approx(1e-4, rel=1e-2)
    with pytest.raises(TrainError, match="unroll"):
        TrainConfig(unroll=0)


def test_smoke_loss_decreases_and_outputs(tmp_path, data):
    cfg = TrainConfig(steps=60, batch_size=4, unroll=1, lr=5e-3, warmup_steps=5, noise_std=0.0, strain_weight=0,
                      penetration_weight=0, velocity_weight=0, jitter_weight=0, val_motions="synth3", val_every=30,
                      val_frames=12, checkpoint_every=30, seed=3)
    out = tmp_path / "m.npz"
    r = train(cfg, data, "prism", out, model_config=SMALL, progress=False, log=lambda *_: None)
    losses = [h["loss"] for h in r.history]
    assert r.finished and len(losses) == 60
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10]), (np.mean(losses[:10]), np.mean(losses[-10:]))
    paths = output_paths(out)
    for key in ("model", "last", "best", "checkpoint", "plot", "report"):
        assert paths[key].is_file(), key
    report = json.loads(paths["report"].read_text())
    assert report["val_motions"] == ["synth3"] and "synth3" not in report["train_motions"]
    assert report["best_step"] in (30, 60) and len(r.val_history) == 2
    # The saved normaliser is the training split's.
    model = GarmentDynamicsModel.load(out)
    train_tracks, _ = split_by_motion(data.tracks, ["synth3"])
    want = fit_normalizer(data.reference, train_tracks, SMALL.features)
    for k, v in want.to_arrays().items():
        np.testing.assert_array_equal(getattr(model.normalizer, k), v)


def test_training_on_a_test_motion_is_refused(tmp_path, data):
    import dataclasses

    leaked = dataclasses.replace(data, tracks=(dataclasses.replace(data.tracks[0], motion="07_01"),) + data.tracks[1:])
    cfg = TrainConfig(steps=1, batch_size=1, unroll=1, val_motions="synth3")
    with pytest.raises(TrainError, match=r"held-out test motions \['07_01'\]"):
        train(cfg, leaked, "prism", tmp_path / "m.npz", model_config=SMALL, progress=False, log=lambda *_: None)
    allowed = dataclasses.replace(cfg, allow_test_motions=True)
    assert train(allowed, leaked, "prism", tmp_path / "m.npz", model_config=SMALL, progress=False, log=lambda *_: None).finished


def test_resume_after_kill_is_bit_identical(tmp_path, data):
    cfg = TrainConfig(steps=6, batch_size=2, unroll=2, curriculum=0.5, lr=3e-3, warmup_steps=2, noise_std=0.001,
                      val_motions="synth3", val_every=3, val_frames=8, checkpoint_every=2, seed=1)
    quiet = dict(model_config=SMALL, progress=False, log=lambda *_: None)
    straight = train(cfg, data, "prism", tmp_path / "a.npz", **quiet)
    killed = train(cfg, data, "prism", tmp_path / "b.npz", max_steps=5, **quiet)
    assert not killed.finished and killed.model_path is None and not (tmp_path / "b.npz").exists()
    assert load_checkpoint(output_paths(tmp_path / "b.npz")["checkpoint"])["step"] == 4  # step 5 was lost
    resumed = train(cfg, data, "prism", tmp_path / "b.npz", **quiet)
    assert resumed.finished and resumed.step == 6
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    # The step timing spans the killed call and the resumed one; rerunning the finished run keeps it.
    assert resumed.sec_per_step > 0
    again = train(cfg, data, "prism", tmp_path / "b.npz", **quiet)
    assert again.finished and again.sec_per_step == resumed.sec_per_step
    assert json.loads(output_paths(tmp_path / "b.npz")["report"].read_text())["sec_per_step"] == resumed.sec_per_step
    a = GarmentDynamicsModel.load(output_paths(tmp_path / "a.npz")["last"])
    b = GarmentDynamicsModel.load(output_paths(tmp_path / "b.npz")["last"])
    for (ka, va), (kb, vb) in zip(a.net.state_dict().items(), b.net.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    # A checkpoint made with other settings is refused.
    with pytest.raises(TrainError, match="different settings"):
        train(TrainConfig(**{**cfg.__dict__, "lr": 1e-2}), data, "prism", tmp_path / "b.npz", **quiet)


def test_replay_buffer_holds_the_models_own_rollout(data):
    from drape.data.windows import WindowDataset
    from drape.rollout import rollout
    from drape.train.replay import ReplayBuffer, refresh
    from drape.types import GarmentState, SkeletonState

    ds = WindowDataset(data.reference, data.tracks, window=2, max_unroll=2, fps=30.0)
    model = GarmentDynamicsModel(SMALL, data.reference, fit_normalizer(data.reference, data.tracks, SMALL.features))
    with torch.no_grad():
        for p in model.net.head_b.parameters():
            p.copy_(1e-2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    buf = ReplayBuffer(6, (3, data.reference.vert_count, 3))
    gen = torch.Generator().manual_seed(4)
    assert refresh(buf, model, ds, 5, gen) == 3  # window starts s0+3 .. s0+5
    k, starts = int(buf.track[0]), buf.start[:3].tolist()
    assert len(buf) == 3 and buf.next == 3 and starts == [starts[0], starts[0] + 1, starts[0] + 2]
    s0, tr = starts[0] - 3, data.tracks[k]
    T = tr.transforms[s0 : s0 + 8]
    init = [GarmentState(tr.verts[s0 + f], np.zeros_like(tr.verts[s0 + f])) for f in range(3)]
    pred = rollout(model, init, SkeletonState(np.zeros(T.shape[:2] + (3,), np.float32), T[:, :, :3, :3], T))
    for j in range(3):
        np.testing.assert_array_equal(buf.hist[j], pred[3 + j : 6 + j])  # every history frame predicted
    assert not np.allclose(buf.hist[0], tr.verts[starts[0] : starts[0] + 3])
    refresh(buf, model, ds, 5, gen)
    refresh(buf, model, ds, 5, gen)  # 9 windows into 6 slots: the oldest are overwritten
    assert len(buf) == 6 and buf.next == 3
    back = ReplayBuffer.from_state(buf.state())
    assert (back.track == buf.track).all() and (back.start == buf.start).all() and np.array_equal(back.hist, buf.hist)


def test_replay_training_resumes_bit_identically(tmp_path, data):
    cfg = TrainConfig(steps=8, batch_size=2, unroll=2, curriculum=0.5, lr=3e-3, warmup_steps=2, noise_std=0.001,
                      replay_fraction=0.5, replay_start=2, replay_every=3, replay_frames=6,
                      val_motions="synth3", val_every=4, val_frames=8, checkpoint_every=2, seed=2)
    quiet = dict(model_config=SMALL, progress=False, log=lambda *_: None)
    straight = train(cfg, data, "prism", tmp_path / "a.npz", **quiet)
    ckpt = load_checkpoint(output_paths(tmp_path / "a.npz")["checkpoint"])
    assert ckpt["replay"]["size"] > 0  # the buffer was filled and is saved
    train(cfg, data, "prism", tmp_path / "b.npz", max_steps=5, **quiet)
    resumed = train(cfg, data, "prism", tmp_path / "b.npz", **quiet)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    # Resumed at a replay refresh (step 2 = replay_start): the new process's first use of the model is that
    # inference-mode rollout, and the training steps after it must still run and match.
    train(cfg, data, "prism", tmp_path / "d.npz", max_steps=2, **quiet)
    assert load_checkpoint(output_paths(tmp_path / "d.npz")["checkpoint"])["step"] == 2
    again = train(cfg, data, "prism", tmp_path / "d.npz", **quiet)
    assert [h["loss"] for h in again.history] == [h["loss"] for h in straight.history]
    # Replay changes the batches once it starts (step 2), not before.
    off = train(TrainConfig(**{**cfg.__dict__, "replay_fraction": 0.0}), data, "prism", tmp_path / "c.npz", **quiet)
    la, lb = [h["loss"] for h in straight.history], [h["loss"] for h in off.history]
    assert la[:2] == lb[:2] and la[2:] != lb[2:]


def test_mirror_trains_on_the_mirrored_training_split_only(tmp_path, data):
    import dataclasses

    from drape.data.mirror import MIRROR_SUFFIX, mirror_map_for, mirror_tracks

    sym = dataclasses.replace(data, template_verts=data.reference.verts)  # the synthetic prism is symmetric in x
    cfg = TrainConfig(steps=3, batch_size=2, unroll=1, val_motions="synth3", val_every=3, val_frames=8, mirror=True)
    out = tmp_path / "m.npz"
    r = train(cfg, sym, "prism", out, model_config=SMALL, progress=False, log=lambda *_: None)
    assert r.finished
    report = json.loads(output_paths(out)["report"].read_text())
    names = sorted(t.name for t in data.tracks if t.motion != "synth3")
    assert report["train_sequences"] == sorted(names + [n + MIRROR_SUFFIX for n in names])
    assert report["val_sequences"] == ["synth3"] and "synth3" not in report["train_motions"]
    train_tracks, _ = split_by_motion(data.tracks, ["synth3"])
    want = fit_normalizer(data.reference, mirror_tracks(train_tracks, mirror_map_for(sym)), SMALL.features)
    model = GarmentDynamicsModel.load(out)
    for k, v in want.to_arrays().items():
        np.testing.assert_array_equal(getattr(model.normalizer, k), v)
    with pytest.raises(Exception, match="no garment template"):
        train(cfg, data, "prism", tmp_path / "n.npz", model_config=SMALL, progress=False, log=lambda *_: None)


def test_clip_balance_draws_replay_tracks_by_clip(data):
    from drape.data.windows import WindowDataset
    from drape.train.replay import ReplayBuffer, refresh

    model = GarmentDynamicsModel(SMALL, data.reference, fit_normalizer(data.reference, data.tracks, SMALL.features), seed=0)
    ds = WindowDataset(data.reference, data.tracks, window=2, max_unroll=2, fps=30.0)
    buf = ReplayBuffer(64, (3, data.reference.vert_count, 3))
    weights = np.zeros(len(ds.tracks))
    weights[2] = 1.0  # only track 2 may be drawn
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        refresh(buf, model, ds, 6, gen, weights)
    assert set(buf.track[: buf.size].tolist()) == {2}
    with pytest.raises(TrainError, match="clip_balance"):
        TrainConfig(clip_balance=2.0)


def test_clip_balanced_training_runs_with_replay(tmp_path, data):
    cfg = TrainConfig(steps=4, batch_size=2, unroll=1, val_motions="synth3", val_every=4, val_frames=8, clip_balance=1.0,
                      replay_fraction=0.5, replay_start=1, replay_every=2, replay_frames=6)
    r = train(cfg, data, "prism", tmp_path / "m.npz", model_config=SMALL, progress=False, log=lambda *_: None)
    assert r.finished and all(np.isfinite(h["loss"]) for h in r.history)


def test_init_model_fine_tunes_from_the_given_weights(tmp_path, data):
    import dataclasses

    quiet = dict(progress=False, log=lambda *_: None)
    base_cfg = TrainConfig(steps=4, batch_size=2, unroll=2, lr=3e-3, warmup_steps=1, val_motions="synth3", val_every=2,
                           val_frames=8, seed=3)
    base = train(base_cfg, data, "prism", tmp_path / "a.npz", model_config=SMALL, **quiet)
    a = GarmentDynamicsModel.load(output_paths(tmp_path / "a.npz")["last"])
    a.save(tmp_path / "a_last.npz")
    tune = dataclasses.replace(base_cfg, steps=2, lr=1e-9, val_every=1, init_model=str(tmp_path / "a_last.npz"))
    r = train(tune, data, "prism", tmp_path / "b.npz", **quiet)
    # Validation before the first step is the starting model's own, and it is the first best.
    from drape.data.windows import split_by_motion
    from drape.train.trainer import validate

    _, val_tracks = split_by_motion(data.tracks, ("synth3",))
    assert r.val_history[0]["step"] == 0
    assert r.val_history[0]["val_mm"] == pytest.approx(validate(a, val_tracks, 8)["val_mm"], rel=1e-6)
    assert base.finished and r.finished and r.best_val_mm <= r.val_history[0]["val_mm"]
    b = GarmentDynamicsModel.load(output_paths(tmp_path / "b.npz")["last"])
    assert b.config == a.config
    for k, v in a.normalizer.to_arrays().items():
        np.testing.assert_array_equal(b.normalizer.to_arrays()[k], v)
    for (ka, va), (kb, vb) in zip(a.net.state_dict().items(), b.net.state_dict().items()):
        assert ka == kb and torch.allclose(va.float(), vb.float(), atol=1e-5), ka  # lr 1e-9: the weights barely move
    # A model made for another reference garment is refused.
    moved = GarmentDynamicsModel(a.config, dataclasses.replace(a.reference, verts=a.reference.verts + 0.01), a.normalizer)
    moved.save(tmp_path / "moved.npz")
    with pytest.raises(TrainError, match="another reference garment"):
        train(dataclasses.replace(tune, init_model=str(tmp_path / "moved.npz")), data, "prism", tmp_path / "c.npz", **quiet)


def test_keep_last_writes_the_final_weights(tmp_path, data):
    """keep="last": OUT holds the final averaged weights although validation ran (and is reported);
    keep="best" (the default): OUT holds the best-validated ones."""
    import dataclasses

    quiet = dict(progress=False, log=lambda *_: None)
    cfg = TrainConfig(steps=4, batch_size=2, unroll=1, lr=3e-3, warmup_steps=1, val_motions="synth3", val_every=1,
                      val_frames=8, seed=2)

    def weights(path):
        return GarmentDynamicsModel.load(path).net.state_dict()

    for keep in ("best", "last"):
        out = tmp_path / f"{keep}.npz"
        r = train(dataclasses.replace(cfg, keep=keep), data, "prism", out, model_config=SMALL, **quiet)
        assert r.finished and r.best_step is not None and len(r.val_history) >= 4
        report = json.loads(output_paths(out)["report"].read_text())
        assert report["kept"] == keep and report["train_config"]["keep"] == keep
        want = weights(output_paths(out)[keep])
        for k, v in weights(out).items():
            assert torch.equal(v, want[k]), k
    with pytest.raises(TrainError, match="keep must be one of"):
        TrainConfig(keep="median")
