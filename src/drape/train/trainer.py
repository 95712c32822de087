"""Training of the garment-dynamics model: multi-step unrolls, checkpoints, resume, validation.

``train(config, data, garment, out_path)`` fits a :class:`~drape.model.dynamics.GarmentDynamicsModel`
to simulated sequences:

* **Windows** of ``i + 1 + K`` frames are drawn uniformly from the training tracks
  (:class:`drape.data.windows.WindowDataset`). The ``i + 1`` history frames get Gaussian
  noise (``noise_std`` metres), then the model is **unrolled K steps**: each prediction
  becomes the newest history frame of the next step, and the loss over all K predicted
  frames is backpropagated through the whole unroll. K follows a curriculum, 1 at the start
  rising linearly to ``unroll`` over the first ``curriculum`` fraction of the steps.
* **Rollout replay** (``replay_fraction`` > 0, :mod:`drape.train.replay`): from step
  ``replay_start`` on, a share of each batch's windows takes its history from the model's
  own recent free rollouts on the training tracks instead of the noised simulated frames.
* **Loss** (mm units, see :mod:`drape.train.losses`): vertex error (world or canonical
  frame) + edge strain against the reference drape + penetration hinge with the model's
  contact binding + velocity and jitter (acceleration) errors.
* **Optimiser**: Adam, linear warm-up then cosine decay to ``lr * lr_final``, gradient clipping.
* **Validation**: full autoregressive rollouts (never teacher-forced) of ``val_frames`` frames
  on the motions held out in ``val_motions``, started from the simulated first ``i + 1``
  frames; the score is the mean vertex error in mm. The best-scoring weights are kept.
* **Weight averaging**: validation and the saved models use an exponential moving average
  of the weights (``ema_decay``); with ``swa_start`` a uniform mean of the validated averages
  from that step on is validated too and kept when it scores best (``best_weights`` in the
  run's JSON says which).
* **Checkpoints** every ``checkpoint_every`` steps, written atomically: network, optimiser,
  step, the sampling RNG state, the normaliser and the loss history. ``train(...,
  resume=True)`` continues from the last one, and the continuation is bit-identical to an
  uninterrupted run (same thread count).
* **Outputs** (out_path ``models/tshirt.npz``): ``tshirt.npz`` the final model (best
  validation weights, or the last ones without validation or with ``keep="last"``) in the one-file model format
  with its normaliser; ``tshirt.last.npz`` the last weights; ``tshirt.best.npz`` the best so
  far (updated during training); ``tshirt.ckpt`` the checkpoint; ``tshirt.loss.png`` the loss
  curves (train, validation, LBS reference); ``tshirt.train.json`` the run's figures
  (s/step, losses, split, config). See :func:`output_paths`.

Normalisation statistics are fitted on the training split only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drape.config import opt
from drape.data.sequence import atomic_write_bytes
from drape.model.features import OFFSET_SPACES
from drape.types import DrapeError

CHECKPOINT_FORMAT = "drape-train-checkpoint"
CHECKPOINT_VERSION = 1
VERTEX_LOSS_CHOICES = ("l2", "l1", "mse")
LOSS_SPACES = ("world", "canonical")
# Config fields that may change between a checkpoint and its resume.
RESUMABLE_CHANGES = ("threads", "checkpoint_every", "val_every", "keep")
KEEP_CHOICES = ("best", "last")


class TrainError(DrapeError):
    """Bad training setup or an incompatible checkpoint."""


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (saved in the checkpoint and in OUT.train.json)."""

    steps: int = opt(10000, "optimisation steps")
    batch_size: int = opt(4, "windows per step")
    lr: float = opt(1e-3, "peak learning rate (Adam)")
    lr_final: float = opt(0.05, "final learning rate as a fraction of lr (cosine decay)")
    warmup_steps: int = opt(100, "steps of linear learning-rate warm-up")
    unroll: int = opt(4, "K: predicted frames per window, each fed back as history (backprop through the unroll)")
    curriculum: float = opt(0.5, "fraction of the steps over which K rises linearly from 1 to unroll")
    noise_std: float = opt(0.003, "metres: std of Gaussian noise added to the history positions (independent per frame and vertex)")
    drift_noise_std: float = opt(0.015, "metres: RMS of a smooth random offset field added to all history frames alike "
                                        "(the shape of a rollout's own error; velocities stay intact)")
    vertex_loss: str = opt("l2", "vertex term: l2 (mean distance), l1 or mse", choices=VERTEX_LOSS_CHOICES)
    loss_space: str = opt("world", "vertex term on world or canonical (unposed) positions", choices=LOSS_SPACES)
    vertex_weight: float = opt(1.0, "weight of the vertex term (mm)")
    strain_weight: float = opt(0.05, "weight of the edge-strain term (percent vs the reference drape)")
    penetration_weight: float = opt(5.0, "weight of the body-penetration hinge (mm)")
    penetration_margin: float = opt(0.002, "metres: the hinge pushes vertices this far outside the body surface")
    penetration_body: bool = opt(True, "penetration hinge against the simulated body mesh of each target frame (tangent plane "
                                       "at the body vertex nearest the true garment vertex); off: the model's contact binding")
    velocity_weight: float = opt(0.5, "weight of the velocity-error term (mm/frame)")
    jitter_weight: float = opt(0.5, "weight of the acceleration-error term (mm/frame^2)")
    replay_fraction: float = opt(0.0, "share of each batch whose history is the model's own free rollout (drape.train.replay) "
                                      "instead of the simulated frames plus noise (0: off)")
    replay_start: int = opt(1000, "step from which replay windows enter the batches")
    replay_every: int = opt(20, "steps between replay rollouts")
    replay_frames: int = opt(32, "frames of each replay rollout (about that many windows each)")
    replay_capacity: int = opt(512, "windows the replay buffer holds (the oldest are dropped)")
    grad_clip: float = opt(1.0, "gradient-norm clip (0: none)")
    ema_decay: float = opt(0.995, "decay of the exponential moving average of the weights that validation and the saved "
                                  "models use (0: the raw weights); warmed up as min(decay, (1+t)/(10+t))")
    swa_start: int = opt(0, "stochastic weight averaging: from this step on, every validation also folds the validated "
                            "(EMA) weights into a uniform running mean, validates that mean too and keeps it when it "
                            "scores best (0: off)")
    seed: int = opt(0, "seed of the network initialisation, window sampling and noise")
    checkpoint_every: int = opt(100, "steps between checkpoints")
    val_every: int = opt(250, "steps between validation rollouts")
    val_frames: int = opt(60, "frames of each validation rollout (from the simulated first i+1 frames)")
    val_motions: str = opt("", "comma-separated motion names held out for validation (never trained on)")
    body_shape: str = opt("", "dataset body shape to train on, name=value,... (default: the average body)")
    offset_space: str = opt("auto", "frame the offsets live in: lbs (the garment's skin weights), torso (leg weights on the "
                                    "root), root, or auto (torso for skirts and dresses, lbs otherwise)",
                            choices=OFFSET_SPACES)
    normalizer_samples: int = opt(2000, "teacher-forced frames used for the normalisation statistics")
    threads: int = opt(1, "torch CPU threads (more than the free cores slows training down sharply)")
    allow_test_motions: bool = opt(False, "train even when the data holds a held-out test motion (drape.data.splits.TEST_MOTIONS)")
    clip_balance: float = opt(0.0, "window sampling: 0 draws every training window alike; 1 draws every source clip alike "
                                    "(the segments of a long clip share one clip's weight); in between, c^-balance per window of a "
                                    "clip with c windows")
    mirror: bool = opt(False, "also train on the left-right mirror image of every training sequence (drape.data.mirror; "
                              "the validation motions are not mirrored)")
    keep: str = opt("best", "weights written to OUT: best (lowest validation error, the starting model's included when "
                            "fine-tuning) or last (the final averaged weights of a fixed schedule; validation still runs and "
                            "is reported)", choices=KEEP_CHOICES)
    init_model: str = opt("", "fine-tune: start from this model's network weights and normaliser (a .npz path or a bundled "
                              "model name); its architecture is kept, its reference garment must match the data's, and its "
                              "validation error before any step is the first one the best weights must beat")

    def __post_init__(self) -> None:
        checks = [
            (self.steps >= 1, "steps must be >= 1"), (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.lr > 0, "lr must be > 0"), (0 <= self.lr_final <= 1, "lr_final must be in [0, 1]"),
            (self.unroll >= 1, "unroll must be >= 1"), (0 <= self.curriculum <= 1, "curriculum must be in [0, 1]"),
            (self.noise_std >= 0, "noise_std must be >= 0"), (self.drift_noise_std >= 0, "drift_noise_std must be >= 0"),
            (self.penetration_margin >= 0, "penetration_margin must be >= 0"), (self.checkpoint_every >= 1, "checkpoint_every must be >= 1"),
            (self.val_every >= 1, "val_every must be >= 1"), (self.threads >= 1, "threads must be >= 1"),
            (self.vertex_loss in VERTEX_LOSS_CHOICES, f"vertex_loss must be one of {VERTEX_LOSS_CHOICES}"),
            (self.keep in KEEP_CHOICES, f"keep must be one of {KEEP_CHOICES}, got {self.keep!r}"),
            (self.loss_space in LOSS_SPACES, f"loss_space must be one of {LOSS_SPACES}"),
            (self.val_frames >= 4, "val_frames must be >= 4"),
            (0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)"), (self.swa_start >= 0, "swa_start must be >= 0"),
            (0 <= self.replay_fraction <= 1, "replay_fraction must be in [0, 1]"), (self.replay_start >= 0, "replay_start must be >= 0"),
            (self.replay_every >= 1, "replay_every must be >= 1"), (self.replay_frames >= 1, "replay_frames must be >= 1"),
            (self.replay_capacity >= 1, "replay_capacity must be >= 1"),
            (0 <= self.clip_balance <= 1, "clip_balance must be in [0, 1]"),
        ]
        for ok, msg in checks:
            if not ok:
                raise TrainError(f"train config: {msg}")

    @property
    def validation_motions(self) -> tuple[str, ...]:
        return tuple(m.strip() for m in self.val_motions.split(",") if m.strip())

    def unroll_at(self, step: int) -> int:
        """K used at (0-based) ``step``: 1 rising linearly to ``unroll`` over ``curriculum * steps``."""
        ramp = self.curriculum * self.steps
        if self.unroll == 1 or ramp <= 0:
            return self.unroll
        return int(min(self.unroll, 1 + math.floor(self.unroll * step / ramp)))

    def lr_at(self, step: int) -> float:
        """Learning rate at (0-based) ``step``: linear warm-up, then cosine from lr to lr * lr_final."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        span = max(self.steps - self.warmup_steps, 1)
        t = min(max(step - self.warmup_steps, 0) / span, 1.0)
        return self.lr * (self.lr_final + (1 - self.lr_final) * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns."""

    model_path: Path | None
    """OUT, or None when stopped early by ``max_steps``."""
    step: int
    finished: bool
    best_val_mm: float | None
    best_step: int | None
    sec_per_step: float
    """Mean wall seconds per optimisation step over the whole run, resumed calls included (validation excluded)."""
    history: list
    """[{step, loss, K, lr, terms...}] for every step so far."""
    val_history: list
    """[{step, val_mm, per_track}]."""


def output_paths(out_path: str | os.PathLike) -> dict[str, Path]:
    out = Path(out_path)
    base = out.with_suffix("") if out.suffix == ".npz" else out
    return {
        "model": out,
        "last": base.with_name(base.name + ".last.npz"),
        "best": base.with_name(base.name + ".best.npz"),
        "checkpoint": base.with_name(base.name + ".ckpt"),
        "plot": base.with_name(base.name + ".loss.png"),
        "report": base.with_name(base.name + ".train.json"),
    }


# --------------------------------------------------------------------------- unrolled prediction and loss


def unroll(model, history, transforms, global_feats, *, need_canonical: bool = False):
    """Differentiable K-step autoregressive prediction.

    history (B, i+1, V, 3) world metres; transforms (B, i+1+K, J, 4, 4); global_feats (B, K, G)
    skeleton features of the K target frames (torch tensors). Returns world predictions
    (B, K, V, 3) and, with ``need_canonical``, the canonical predictions (B, K, V, 3).
    """
    import torch

    from drape.model.features import pose, prediction_base, vertex_features

    ref = model.reference
    n = model.config.window + 1
    K = global_feats.shape[1]
    worlds, canons = [], []
    hist = history
    for k in range(K):
        Tw = transforms[:, k : k + n + 1]
        vf, c_t = vertex_features(ref, hist, Tw, model.feature_config)
        canon = prediction_base(ref, c_t, model.feature_config) + model.predict_delta(vf, global_feats[:, k])
        x = pose(ref, canon, Tw[:, -1], torch=True)
        worlds.append(x)
        if need_canonical:
            canons.append(canon)
        hist = torch.cat([hist[:, 1:], x[:, None]], 1)
    return torch.stack(worlds, 1), (torch.stack(canons, 1) if need_canonical else None)


def smooth_field(points: np.ndarray, count: int, rms: float, gen, *, waves: int = 4, wavelength: float = 0.5):
    """Random smooth vector fields (count, V, 3) over ``points`` (V, 3) metres with RMS ``rms`` metres.

    A constant shift plus ``waves`` plane waves of random direction, phase and amplitude, wavelengths
    around ``wavelength`` metres: the low-frequency shape of a rollout's drift. Drawn from ``gen``.
    """
    import torch

    x = torch.from_numpy(np.asarray(points, dtype=np.float32))
    k = torch.randn(count, waves, 3, generator=gen) * (2 * math.pi / wavelength / math.sqrt(3))
    phase = torch.rand(count, waves, 1, generator=gen) * (2 * math.pi)
    amp = torch.randn(count, waves + 1, 3, generator=gen)
    basis = torch.sin(torch.einsum("cwd,vd->cwv", k, x) + phase) * math.sqrt(2)  # (count, waves, V), unit RMS
    field = amp[:, 0, None, :] + torch.einsum("cwv,cwd->cvd", basis, amp[:, 1:])  # (count, V, 3)
    return field * (rms / math.sqrt(3 * (waves + 1)))  # E|field|^2 = rms^2


def history_noise(shape, reference_points: np.ndarray, config: TrainConfig, gen):
    """Noise (B, i+1, V, 3) for the history frames: independent ``noise_std`` plus one smooth
    ``drift_noise_std`` field per window shared by its frames; None when both are 0."""
    import torch

    if config.noise_std <= 0 and config.drift_noise_std <= 0:
        return None
    noise = torch.zeros(shape)
    if config.noise_std > 0:
        noise = noise + torch.randn(shape, generator=gen) * config.noise_std
    if config.drift_noise_std > 0:
        noise = noise + smooth_field(reference_points, shape[0], config.drift_noise_std, gen)[:, None]
    return noise


def unrolled_loss(model, batch: dict, config: TrainConfig, *, noise=None, edges=None):
    """Total loss (scalar tensor) and its terms (floats, mm units) of one batch from WindowDataset.batch.

    noise: (B, i+1, V, 3) tensor added to the history, or None. edges: (edges, rest_lengths)
    from :func:`drape.train.losses.reference_edges` (needed when strain_weight > 0).
    """
    import torch

    from drape.model.features import canonical
    from drape.train import losses as L

    ref = model.reference
    n = model.config.window + 1
    hist_gt = torch.from_numpy(batch["history"])
    T = torch.from_numpy(batch["transforms"])
    G = torch.from_numpy(batch["global"])
    Y = torch.from_numpy(batch["target"])
    K = Y.shape[1]
    hist = hist_gt if noise is None else hist_gt + noise
    need_canon = config.loss_space == "canonical"
    P, C = unroll(model, hist, T, G, need_canonical=need_canon)
    T_tgt = T[:, n : n + K]
    vertex_fn = L.VERTEX_LOSSES[config.vertex_loss]
    if need_canon:
        terms = {"vertex": vertex_fn(C, canonical(ref, Y, T_tgt, torch=True))}
    else:
        terms = {"vertex": vertex_fn(P, Y)}
    if config.strain_weight > 0:
        e, rest = edges
        terms["strain"] = L.edge_strain_pct(P, e, rest)
    if config.penetration_weight > 0:
        planes = batch.get("planes") if config.penetration_body else None
        if planes is not None:
            d = L.plane_distance(P, planes["point"], planes["normal"])
            d_gt = torch.from_numpy(planes["gt_distance"]).to(P.dtype)
        else:
            d = L.contact_distance(ref, P, T_tgt)
            with torch.no_grad():
                d_gt = L.contact_distance(ref, Y, T_tgt)
        terms["penetration"] = L.penetration_mm(d, floor=d_gt, margin=config.penetration_margin)
    if config.velocity_weight > 0 or config.jitter_weight > 0:
        Pf = torch.cat([hist_gt[:, -2:], P], 1)
        Yf = torch.cat([hist_gt[:, -2:], Y], 1)
        if config.velocity_weight > 0:
            terms["velocity"] = L.velocity_mm(Pf[:, 2:], Yf[:, 2:], Pf[:, 1:-1], Yf[:, 1:-1])
        if config.jitter_weight > 0:
            terms["jitter"] = L.jitter_mm(Pf, Yf)
    weights = {"vertex": config.vertex_weight, "strain": config.strain_weight, "penetration": config.penetration_weight,
               "velocity": config.velocity_weight, "jitter": config.jitter_weight}
    total = sum(weights[k] * v for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}


# --------------------------------------------------------------------------- validation


def rollout_error_mm(model, track, frames: int) -> float:
    """Mean vertex error (mm) of a full autoregressive rollout of ``frames`` frames of ``track``.

    The rollout starts from the track's first ``i + 1`` (simulated) frames; those frames are
    excluded from the mean.
    """
    from drape.rollout import rollout_from_truth

    n = model.config.window + 1
    F = min(frames, track.frame_count)
    if F <= n:
        raise TrainError(f"validation track {track.name}: {track.frame_count} frames, need more than {n}")
    X = track.verts[:F]
    pred = rollout_from_truth(model, X, track.transforms[:F])
    return float(1000.0 * np.linalg.norm(pred[n:] - X[n:], axis=-1).mean())


def validate(model, tracks, frames: int) -> dict:
    per = {t.name: rollout_error_mm(model, t, frames) for t in tracks}
    return {"val_mm": float(np.mean(list(per.values()))), "per_track": per}


def lbs_error_mm(reference, tracks, frames: int, *, skip: int) -> float:
    """Mean vertex error (mm) of the LBS baseline over frames ``skip .. frames-1`` of the tracks (the validation reference)."""
    from drape.eval.metrics import lbs_baseline, vertex_error_mm

    errs = []
    for t in tracks:
        F = min(frames, t.frame_count)
        errs.append(float(vertex_error_mm(lbs_baseline(reference, t.transforms[skip:F]), t.verts[skip:F]).mean()))
    return float(np.mean(errs))


# --------------------------------------------------------------------------- files


class WeightAverage:
    """Exponential moving average of a network's parameters (Polyak averaging).

    Rollout error swings from one validation to the next while the raw weights chase each batch;
    the average is what validation measures and what the saved models hold.
    """

    def __init__(self, net, decay: float, state: dict | None = None):
        self.net, self.decay = net, float(decay)
        src = state if state is not None else net.state_dict()
        self.shadow = {k: v.detach().clone() for k, v in src.items()}

    def update(self, step: int) -> None:
        """Fold the current weights in after optimisation step ``step`` (1-based)."""
        import torch

        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in self.net.state_dict().items():
                if v.is_floating_point():
                    self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
                else:
                    self.shadow[k].copy_(v)

    def applied(self):
        """The averaged weights loaded into the network for the block, the raw ones restored after."""
        return weights_loaded(self.net, self.shadow)


class RunningMean:
    """Uniform mean of weight snapshots (stochastic weight averaging).

    ``add(weights)`` folds one snapshot in (``mean += (w - mean) / count``); non-float entries
    take the newest value. Unlike :class:`WeightAverage`, whose memory is about ``1 / (1 - decay)``
    steps, every snapshot since the first counts alike, which evens out the swings of the
    validation error between checks.
    """

    def __init__(self, state: dict | None = None):
        self.mean: dict | None = None
        self.count = 0
        if state is not None:
            self.mean = {k: v.detach().clone() for k, v in state["mean"].items()} if state["mean"] is not None else None
            self.count = int(state["count"])

    def add(self, weights: dict) -> None:
        import torch

        self.count += 1
        if self.mean is None:
            self.mean = {k: v.detach().clone() for k, v in weights.items()}
            return
        with torch.no_grad():
            for k, v in weights.items():
                if v.is_floating_point():
                    self.mean[k].add_(v.detach() - self.mean[k], alpha=1.0 / self.count)
                else:
                    self.mean[k].copy_(v)

    def state(self) -> dict:
        return {"mean": self.mean, "count": self.count}

    def applied(self, net):
        """The mean loaded into ``net`` for the block, its own weights restored after."""
        if self.mean is None:
            raise TrainError("weight mean: no snapshot has been added")
        return weights_loaded(net, self.mean)


@contextlib.contextmanager
def weights_loaded(net, weights: dict):
    """``weights`` loaded into ``net`` for the block, the network's own ones restored after."""
    own = {k: v.detach().clone() for k, v in net.state_dict().items()}
    net.load_state_dict(weights)
    try:
        yield
    finally:
        net.load_state_dict(own)


def _save_checkpoint(path: Path, state: dict) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a training checkpoint (checks format and version)."""
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainError(f"checkpoint {path} not found") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on corrupt files
        raise TrainError(f"checkpoint {path}: unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TrainError(f"checkpoint {path}: not a {CHECKPOINT_FORMAT} file")
    if state.get("version") != CHECKPOINT_VERSION:
        raise TrainError(f"checkpoint {path}: version {state.get('version')}, this drape reads version {CHECKPOINT_VERSION}")
    return state


def plot_losses(path: Path, history: list, val_history: list, *, title: str = "", lbs_val_mm: float | None = None) -> None:
    """Write the train (per step and smoothed) and validation loss curves as a PNG (log scales).

    lbs_val_mm: the LBS baseline's error on the validation rollouts, drawn as a reference line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    if history:
        s = np.array([h["step"] for h in history])
        loss = np.array([h["loss"] for h in history])
        ax[0].plot(s, loss, color="0.75", lw=0.8, label="train loss (per step)")
        w = max(1, len(loss) // 50)
        if w > 1:
            sm = np.convolve(loss, np.ones(w) / w, mode="valid")
            ax[0].plot(s[w - 1 :], sm, color="C0", lw=1.6, label=f"train loss (mean of {w})")
        vert = np.array([h.get("vertex", np.nan) for h in history])
        ax[0].plot(s, vert, color="C2", lw=0.8, alpha=0.6, label="vertex term (mm)")
        ax[0].set_yscale("log")
        ax[0].set_xlabel("step")
        ax[0].set_ylabel("loss (mm units)")
        ax[0].legend(fontsize=8)
        ax[0].grid(alpha=0.3)
    if val_history:
        vs = [v["step"] for v in val_history]
        ax[1].plot(vs, [v["val_mm"] for v in val_history], "o-", color="C3", label="validation rollout (mm)")
        swa_pts = [(v["step"], v["swa_mm"]) for v in val_history if "swa_mm" in v]
        if swa_pts:
            ax[1].plot(*zip(*swa_pts), "s-", color="C1", ms=4, label="validation, uniform weight mean (mm)")
        if lbs_val_mm is not None:
            ax[1].axhline(lbs_val_mm, color="0.4", ls="--", lw=1, label=f"LBS baseline ({lbs_val_mm:.1f} mm)")
        ax[1].set_yscale("log")
        ax[1].set_xlabel("step")
        ax[1].set_ylabel("mean vertex error, autoregressive rollout (mm)")
        ax[1].legend(fontsize=8)
        ax[1].grid(alpha=0.3)
    else:
        ax[1].text(0.5, 0.5, "no validation motions", ha="center", va="center", transform=ax[1].transAxes)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- data


def resolve_training_data(data, garment: str | None, config: TrainConfig, *, model_config=None, progress: bool = False):
    """A :class:`drape.data.windows.TrainingData` from a dataset folder, a TrainingData or a list of Sequences."""
    from drape.data.windows import TrainingData, load_training_data, training_data_from_sequences

    if isinstance(data, TrainingData):
        if garment and data.reference.name != garment:
            raise TrainError(f"training data is for garment {data.reference.name!r}, not {garment!r}")
        return data
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_dir():
            raise TrainError(f"training data {path}: not a folder (expected a 'drape dataset build' output folder)")
        if not garment:
            raise TrainError("train: a garment name is needed to pick sequences from a dataset folder")
        return load_training_data(path, garment, body_shape=config.body_shape or None, offset_space=config.offset_space,
                                  progress=progress)
    seqs = list(data)
    if not seqs:
        raise TrainError("train: no training sequences given")
    return training_data_from_sequences(seqs, garment)


# --------------------------------------------------------------------------- the loop


def load_init_model(name: str, reference):
    """The model ``--init-model`` names (path or bundled name), checked against the data's reference garment."""
    from drape.animate import resolve_model_path
    from drape.model.dynamics import GarmentDynamicsModel

    path = resolve_model_path(name)
    if path.suffix != ".npz":
        raise TrainError(f"train: --init-model {name}: expected a .npz model (torch weights), got {path.name}")
    init = GarmentDynamicsModel.load(path)
    mine, theirs = reference.to_arrays(), init.reference.to_arrays()
    for key in sorted(set(mine) | set(theirs)):
        a, b = mine.get(key), theirs.get(key)
        if a is None or b is None or np.shape(a) != np.shape(b) or not np.allclose(a, b, atol=1e-6):
            raise TrainError(f"train: --init-model {name} was made for another reference garment ({key!r} differs from the "
                             f"data's {reference.name}); fine-tune on the garment and offset space it was trained on")
    return init


def _config_dict(c) -> dict:
    return dataclasses.asdict(c)


def train(
    config: TrainConfig,
    data,
    garment: str | None,
    out_path: str | os.PathLike,
    *,
    model_config=None,
    resume: bool = True,
    progress: bool = True,
    max_steps: int | None = None,
    log=None,
) -> TrainResult:
    """Train a garment-dynamics model and write it to ``out_path`` (see the module docs for all outputs).

    data: a dataset folder (``drape dataset build``), a :class:`drape.data.windows.TrainingData`,
    or a list of :class:`drape.types.Sequence`. garment: the garment's name (picks it from a dataset).
    model_config: :class:`drape.model.dynamics.ModelConfig` (default settings; fps taken from the data).
    resume: continue from ``OUT.ckpt`` when it exists (its config must match, up to threads,
    checkpoint_every and val_every). max_steps: stop after this step without writing the
    final model (used to test resuming). log: callable for messages (default: print).
    """
    import torch

    from drape.data.windows import WindowDataset, fit_normalizer, split_by_motion
    from drape.model.dynamics import GarmentDynamicsModel, ModelConfig
    from drape.train.losses import reference_edges

    say = log or print
    paths = output_paths(out_path)
    data = resolve_training_data(data, garment, config, progress=progress)
    fps = float(data.tracks[0].fps) if data.tracks else 30.0
    init = None
    if config.init_model:
        init = load_init_model(config.init_model, data.reference)
        if model_config is not None and model_config != init.config:
            raise TrainError(f"train: --init-model {config.init_model} has its own architecture; leave the model options "
                             "at their defaults")
        model_config = init.config
    if model_config is None:
        model_config = ModelConfig(fps=fps)
    if abs(model_config.fps - fps) > 1e-6:
        raise TrainError(f"model config fps {model_config.fps} does not match the data ({fps} fps)")
    train_tracks, val_tracks = split_by_motion(data.tracks, config.validation_motions)
    if not config.allow_test_motions:
        from drape.data.splits import TEST_MOTIONS, motion_key

        leaked = sorted({t.motion for t in train_tracks if motion_key(t.motion) in TEST_MOTIONS})
        if leaked:
            raise TrainError(f"train: the training sequences include held-out test motions {leaked}; drop them from the "
                             "data (drape.data.splits), or pass --allow-test-motions")
    if config.mirror:
        from drape.data.mirror import mirror_map_for, mirror_tracks

        train_tracks = mirror_tracks(train_tracks, mirror_map_for(data))
    n = model_config.window + 1
    ds = WindowDataset(data.reference, train_tracks, window=model_config.window, max_unroll=config.unroll, fps=fps,
                       skeleton_joints=model_config.features.skeleton_joints)
    if ds.skipped:
        say(f"train: {len(ds.skipped)} sequences shorter than {n + config.unroll} frames are not used: {', '.join(ds.skipped[:5])}")
    val_tracks = tuple(t for t in val_tracks if t.frame_count > n)
    signature = {"train": sorted(t.name for t in train_tracks), "val": sorted(t.name for t in val_tracks)}

    prev_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        state = None
        if resume and paths["checkpoint"].is_file():
            state = load_checkpoint(paths["checkpoint"])
            saved = {**_config_dict(TrainConfig()), **state["train_config"]}  # keys added since take their defaults
            a = {k: v for k, v in saved.items() if k not in RESUMABLE_CHANGES}
            b = {k: v for k, v in _config_dict(config).items() if k not in RESUMABLE_CHANGES}
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            if diff or state["model_config"] != _config_dict(model_config):
                what = ", ".join(diff) if diff else "model config"
                raise TrainError(
                    f"checkpoint {paths['checkpoint']} was made with different settings ({what}); "
                    "train with --no-resume to start over, or use another --out"
                )
            if state["data"] != signature:
                raise TrainError(f"checkpoint {paths['checkpoint']} was made on other sequences; use --no-resume or another --out")
        from drape.model.features import Normalizer

        if state is not None:
            normalizer = Normalizer.from_arrays({k: v.numpy() for k, v in state["normalizer"].items()})
        elif init is not None:
            normalizer = init.normalizer
        else:
            normalizer = fit_normalizer(data.reference, train_tracks, model_config.features, max_samples=config.normalizer_samples)
        model = GarmentDynamicsModel(model_config, data.reference, normalizer, seed=config.seed)
        if init is not None and state is None:
            model.net.load_state_dict(init.net.state_dict())
        optim = torch.optim.Adam(model.net.parameters(), lr=config.lr)
        gen = torch.Generator().manual_seed(config.seed + 1_000_003)
        step = 0
        history: list = []
        val_history: list = []
        best_val, best_step = None, None
        timed_sec, timed_steps = 0.0, 0  # optimisation wall time of the whole run, resumed calls included
        if state is not None:
            model.net.load_state_dict(state["net"])
            optim.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"])
            step = int(state["step"])
            history = list(state["history"])
            val_history = list(state["val_history"])
            best_val, best_step = state["best_val"], state["best_step"]
            sec, steps = state.get("timed", (0.0, 0))  # absent in checkpoints of earlier versions
            timed_sec, timed_steps = float(sec), int(steps)
            say(f"train: resuming from {paths['checkpoint']} at step {step}")
        ema = None
        if config.ema_decay > 0:
            ema = WeightAverage(model.net, config.ema_decay, (state or {}).get("ema"))
        averaged = ema.applied if ema is not None else contextlib.nullcontext
        swa = RunningMean((state or {}).get("swa")) if config.swa_start > 0 else None
        best_kind = (state or {}).get("best_kind", "ema" if ema is not None else "raw")
        replay = None
        if config.replay_fraction > 0:
            from drape.train.replay import ReplayBuffer, refresh

            saved_replay = (state or {}).get("replay")
            replay = (ReplayBuffer.from_state(saved_replay) if saved_replay is not None
                      else ReplayBuffer(config.replay_capacity, (n, data.reference.vert_count, 3)))
            window_id = {(int(k), int(s)): i for i, (k, s) in enumerate(ds.windows)}
        sample_weights = track_weights = None
        if config.clip_balance > 0:
            w = ds.clip_weights(config.clip_balance)
            sample_weights = torch.from_numpy(w)
            track_weights = np.bincount(ds.windows[:, 0], weights=w, minlength=len(ds.tracks))
        edges = reference_edges(data.reference) if config.strain_weight > 0 else None
        lbs_val = lbs_error_mm(data.reference, val_tracks, config.val_frames, skip=n) if val_tracks else None

        def checkpoint():
            _save_checkpoint(paths["checkpoint"], {
                "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": step,
                "train_config": _config_dict(config), "model_config": _config_dict(model_config),
                "net": model.net.state_dict(), "optimizer": optim.state_dict(), "generator": gen.get_state(),
                "normalizer": {k: torch.from_numpy(np.asarray(v)) for k, v in normalizer.to_arrays().items()},
                "history": history, "val_history": val_history, "best_val": best_val, "best_step": best_step,
                "data": signature, "ema": ema.shadow if ema is not None else None,
                "swa": swa.state() if swa is not None else None, "best_kind": best_kind,
                "replay": replay.state() if replay is not None else None,
                "timed": [timed_sec, timed_steps],
            })

        def run_validation() -> None:
            """Validate the averaged weights at ``step``; keep them as the best when they beat it.

            With ``swa_start``, from that step on the validated weights also join the uniform mean,
            which is validated as well (once it holds two snapshots) and kept when it scores best.
            """
            nonlocal best_val, best_step, best_kind
            model.net.eval()
            with averaged():
                v = validate(model, val_tracks, config.val_frames)
                if best_val is None or v["val_mm"] < best_val:
                    best_val, best_step, best_kind = v["val_mm"], step, "ema" if ema is not None else "raw"
                    model.save(paths["best"])
                if swa is not None and step >= config.swa_start:
                    swa.add(model.net.state_dict())
            if swa is not None and swa.count >= 2 and step >= config.swa_start:
                with swa.applied(model.net):
                    w = validate(model, val_tracks, config.val_frames)
                    v["swa_mm"], v["swa_count"] = w["val_mm"], swa.count
                    if w["val_mm"] < best_val:
                        best_val, best_step, best_kind = w["val_mm"], step, "swa"
                        model.save(paths["best"])
            model.net.train()
            val_history.append({"step": step, **v})
            plot_losses(paths["plot"], history, val_history, title=f"{data.reference.name}", lbs_val_mm=lbs_val)

        if init is not None and state is None and val_tracks:
            # Before any step the average equals the starting weights.
            run_validation()
            say(f"train: --init-model {config.init_model} validates at {best_val:.3f} mm before fine-tuning")

        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=config.steps, initial=step, desc=f"train {data.reference.name}", unit="step", dynamic_ncols=True)
        stop = config.steps if max_steps is None else min(config.steps, int(max_steps))
        model.net.train()
        # Loading the body model switches autograd off process-wide (drape.body.model.load_anny): force it on.
        grad_guard = torch.enable_grad()
        grad_guard.__enter__()
        try:
            while step < stop:
                t0 = time.perf_counter()
                K = config.unroll_at(step)
                lr = config.lr_at(step)
                for g in optim.param_groups:
                    g["lr"] = lr
                if sample_weights is None:
                    ids = torch.randint(len(ds), (config.batch_size,), generator=gen).numpy()
                else:
                    ids = torch.multinomial(sample_weights, config.batch_size, replacement=True, generator=gen).numpy()
                slots = None
                if replay is not None and step >= config.replay_start:
                    if (step - config.replay_start) % config.replay_every == 0:
                        model.net.eval()
                        refresh(replay, model, ds, config.replay_frames, gen, track_weights)
                        model.net.train()
                    m = min(len(replay), int(round(config.replay_fraction * config.batch_size)))
                    if m:
                        slots = replay.sample(m, gen)
                        ids[:m] = [window_id[(int(replay.track[j]), int(replay.start[j]))] for j in slots]
                batch = ds.batch(ids, K)
                if config.penetration_weight > 0 and config.penetration_body:
                    batch["planes"] = ds.contact_planes(ids, K)
                noise = history_noise(batch["history"].shape, data.reference.verts, config, gen)
                if slots is not None:
                    # Replayed windows: the stored prediction replaces the simulated history (no synthetic noise).
                    if noise is None:
                        noise = torch.zeros(batch["history"].shape)
                    noise[: len(slots)] = torch.from_numpy(replay.hist[slots] - batch["history"][: len(slots)])
                loss, terms = unrolled_loss(model, batch, config, noise=noise, edges=edges)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.net.parameters(), config.grad_clip)
                optim.step()
                step += 1
                if ema is not None:
                    ema.update(step)
                lv = float(loss.detach())
                if not math.isfinite(lv):
                    raise TrainError(f"train: loss became {lv} at step {step}; lower --lr or check the data")
                history.append({"step": step, "loss": lv, "K": K, "lr": lr, **terms})
                timed_sec += time.perf_counter() - t0
                timed_steps += 1
                if bar is not None:
                    post = {"loss": f"{lv:.3g}", "K": K}
                    if val_history:
                        post["val_mm"] = f"{val_history[-1]['val_mm']:.2f}"
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                if val_tracks and (step % config.val_every == 0 or step == config.steps):
                    run_validation()
                if step % config.checkpoint_every == 0 or step == config.steps:
                    checkpoint()
        finally:
            grad_guard.__exit__(None, None, None)
            if bar is not None:
                bar.close()
        sec_per_step = timed_sec / timed_steps if timed_steps else 0.0
        finished = step >= config.steps
        model_path = None
        if finished:
            model.net.eval()
            with averaged():
                model.save(paths["last"])
            if config.keep == "best" and best_step is not None and paths["best"].is_file():
                atomic_write_bytes(paths["model"], paths["best"].read_bytes())
            else:
                with averaged():
                    model.save(paths["model"])
            model_path = paths["model"]
            plot_losses(paths["plot"], history, val_history, title=f"{data.reference.name}", lbs_val_mm=lbs_val)
            report = {
                "garment": data.reference.name, "steps": step, "sec_per_step": sec_per_step,
                "threads": config.threads, "windows": len(ds), "vert_count": data.reference.vert_count,
                "train_sequences": signature["train"], "val_sequences": signature["val"],
                "train_motions": sorted({t.motion for t in train_tracks}), "val_motions": sorted({t.motion for t in val_tracks}),
                "best_val_mm": best_val, "best_step": best_step, "best_weights": best_kind, "lbs_val_mm": lbs_val,
                "kept": config.keep if best_step is not None else "last",
                "final_loss_mean100": float(np.mean([h["loss"] for h in history[-100:]])) if history else None,
                "train_config": _config_dict(config), "model_config": _config_dict(model_config),
                "val_history": val_history, "model": str(paths["model"]),
            }
            atomic_write_bytes(paths["report"], (json.dumps(report, indent=2) + "\n").encode())
            kept = "the last weights; " if config.keep == "last" else ""
            say(f"train: wrote {paths['model']} ({kept}best validation {best_val if best_val is None else round(best_val, 3)} mm "
                f"at step {best_step}; {sec_per_step:.3f} s/step)")
    finally:
        torch.set_num_threads(prev_threads)
    return TrainResult(model_path, step, finished, best_val, best_step, sec_per_step, history, val_history)
