"""Evaluate a garment-dynamics model on full autoregressive rollouts (DESIGN §5).

:func:`evaluate` rolls the model out over each ground-truth sequence (never teacher-forced):
it starts from the first ``i + 1`` frames, either the simulated ones (``init="physics"``) or
the LBS-posed reference drape (``init="rest"``), then predicts every later frame from its
own predictions. The metrics cover the predicted frames (``i + 1 .. F - 1``) and are given
next to the same numbers for the LBS baseline (reference drape skinned, no dynamics) and,
where meaningful, for the ground truth itself.

Two single-step diagnostics go with them: ``one_step_error_mm``, the model's error when
every frame is predicted from the ground-truth history (teacher-forced; the rollout
compounds it), and ``persistence_one_step_mm``, the error of keeping the previous true
frame's offset and posing it with the new skeleton. A model whose one-step error is far
above persistence is reading little of the history.

Timing: ``model_ms_per_frame`` is the wall time of the whole rollout step (features,
contact, UV map, network, sampling, skinning) in this process on ``threads`` torch and BLAS threads (default 1), divided
by the predicted frames. Each sequence's timed rollout follows an untimed one over its first
``WARMUP_STEPS`` predicted frames, so one-off first-call costs do not weigh on short sequences. ``physics_sec_per_frame`` is the simulator's time for the same
garment and motion (measured in the same run by ``drape eval`` when it simulates, else
read from the sequence meta); ``speedup`` is their ratio.
"""

from __future__ import annotations

import io
import math
import os
import time
from pathlib import Path

import numpy as np

from drape.eval import metrics as M
from drape.threads import blas_threads
from drape.types import DrapeError, GarmentState, SkeletonState

WARMUP_STEPS = 5
"""Predicted frames rolled out untimed before each timed rollout (see Timing above)."""
INIT_MODES = ("physics", "rest")
SUMMARY_KEYS = (
    "vertex_error_mm", "lbs_vertex_error_mm", "penetration_pct", "gt_penetration_pct", "lbs_penetration_pct",
    "stretch_p99", "gt_stretch_p99", "lbs_stretch_p99", "jitter", "lbs_jitter", "model_ms_per_frame",
    "physics_sec_per_frame", "speedup", "frames", "one_step_error_mm", "persistence_one_step_mm",
)


def _mean(values, weights):
    pairs = [(v, w) for v, w in zip(values, weights) if v is not None and math.isfinite(v)]
    if not pairs:
        return None
    return float(sum(v * w for v, w in pairs) / sum(w for _, w in pairs))


def evaluate(
    model,
    tracks,
    *,
    init: str = "physics",
    frames: int | None = None,
    panel_uv: np.ndarray | None = None,
    plot: str | os.PathLike | None = None,
    threads: int = 1,
    depth: float = 0.001,
    physics_sec_per_frame: dict | None = None,
    render: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict:
    """Roll ``model`` out over each track and compare with the ground truth.

    model: :class:`drape.model.dynamics.GarmentDynamicsModel` or the torch-free
    :class:`drape.model.onnx_backend.OnnxGarmentDynamics` (same ``step`` interface). tracks: :class:`drape.data.windows.Track`
    objects (or a TrainingData, whose tracks and panel_uv are used). frames: limit per track.
    panel_uv: (T, 3, 2) sewing pattern for the stretch rest lengths (default: the reference drape's
    edge lengths). plot: write an error-vs-frame PNG there. physics_sec_per_frame: {track name:
    seconds} overriding the sequence meta (measured in the same run). render: write a PNG there of
    physics / model / LBS side by side at 4 frames of each sequence (needs the tracks' bodies).

    Returns a JSON-ready dict: the summary keys (:data:`SUMMARY_KEYS`; means over tracks weighted
    by predicted frames), ``init``, ``stretch_reference``, ``sequences`` (the same per track, plus
    ``nan`` and, for tracks of 300 frames or more, ``vertex_error_mm_100_200``,
    ``vertex_error_mm_last100`` and their ratio ``drift_ratio``) and
    ``per_frame`` (flat lists over all tracks: sequence, frame, vertex_error_mm,
    lbs_vertex_error_mm, one_step_error_mm, penetration_pct, gt_penetration_pct, lbs_penetration_pct, jitter, lbs_jitter).
    """
    from drape.rollout import rollout, teacher_forced, warm_up

    if init not in INIT_MODES:
        raise DrapeError(f"evaluate: init must be one of {INIT_MODES}, got {init!r}")
    if hasattr(tracks, "tracks"):
        panel_uv = tracks.panel_uv if panel_uv is None else panel_uv
        tracks = tracks.tracks
    tracks = list(tracks)
    if not tracks:
        raise DrapeError("evaluate: no sequences to evaluate")
    ref = model.reference
    n = model.config.window + 1
    fps = float(model.config.fps)
    rest_kw = {"panel_uv": panel_uv} if panel_uv is not None else {"rest_verts": ref.verts}
    per_seq = []
    per_frame: dict[str, list] = {k: [] for k in ("sequence", "frame", "vertex_error_mm", "lbs_vertex_error_mm", "one_step_error_mm",
                                                  "penetration_pct", "gt_penetration_pct", "lbs_penetration_pct",
                                                  "jitter", "lbs_jitter")}
    curves, shots = [], []
    net = getattr(model, "net", None)  # torch backend only; the ONNX backend sets its threads at load
    if net is not None:
        import torch

        prev_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        net.eval()
    try:
        for tr in tracks:
            if abs(tr.fps - fps) > 1e-6:
                raise DrapeError(f"evaluate: sequence {tr.name} is at {tr.fps} fps, the model works at {fps} fps")
            if tr.verts.shape[1] != ref.vert_count:
                raise DrapeError(f"evaluate: sequence {tr.name} has {tr.verts.shape[1]} garment vertices, the model's garment {ref.vert_count}")
            F = tr.frame_count if frames is None else min(int(frames), tr.frame_count)
            if F < n + 2:
                raise DrapeError(f"evaluate: sequence {tr.name} has {F} frames; need at least {n + 2} (window + 3)")
            T = np.asarray(tr.transforms[:F], dtype=np.float32)
            gt = np.asarray(tr.verts[:F], dtype=np.float32)
            lbs = M.lbs_baseline(ref, T)
            start = gt if init == "physics" else lbs
            init_states = [GarmentState(start[f], np.zeros_like(start[f])) for f in range(n)]
            skel = SkeletonState(np.zeros(T.shape[:2] + (3,), np.float32), T[:, :, :3, :3], T)
            cb = None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=F - n, desc=f"rollout {tr.name}", unit="frame")
                cb = lambda f, total: bar.update(1)  # noqa: E731
            with blas_threads(threads):
                # Untimed warm-up on the first frames (lazy initialisation, first-call allocations), so the
                # timing below is the steady per-frame cost that a long animation sees.
                warm_up(model, init_states, skel, WARMUP_STEPS)
            t0 = time.perf_counter()
            with blas_threads(threads):
                pred = rollout(model, init_states, skel, progress=cb)
            ms = 1000.0 * (time.perf_counter() - t0) / (F - n)
            if bar is not None:
                bar.close()
            sl = slice(n, F)
            err = M.vertex_error_mm(pred[sl], gt[sl])
            # Single-step errors from ground-truth history: the model's, and keeping the last offset.
            with blas_threads(threads):
                one_step = M.vertex_error_mm(teacher_forced(model, gt, skel), gt[sl])
            persist = M.vertex_error_mm(M.persistence_baseline(ref, T, gt)[n - 1 :], gt[sl])
            lbs_err = M.vertex_error_mm(lbs[sl], gt[sl])
            # Acceleration at centre frames n .. F-2 (uses frames n-1 .. F-1).
            jit = M.jitter_per_frame(pred, gt, fps)[n - 1 :]
            lbs_jit = M.jitter_per_frame(lbs, gt, fps)[n - 1 :]
            if tr.body_verts is not None and tr.body_faces is not None:
                body = tr.body_verts[:F][sl]
                pen = M.penetration_pct_per_frame(pred[sl], body, tr.body_faces, depth=depth)
                gt_pen = M.penetration_pct_per_frame(gt[sl], body, tr.body_faces, depth=depth)
                lbs_pen = M.penetration_pct_per_frame(lbs[sl], body, tr.body_faces, depth=depth)
            else:
                pen = gt_pen = lbs_pen = np.full(F - n, np.nan)
            phys = (physics_sec_per_frame or {}).get(tr.name, tr.physics_sec_per_frame)
            fin = lambda a: float(np.mean(a)) if np.isfinite(a).all() else None  # noqa: E731
            row = {
                "name": tr.name, "motion": tr.motion, "frames": int(F - n), "init_frames": n,
                "vertex_error_mm": float(err.mean()), "lbs_vertex_error_mm": float(lbs_err.mean()),
                "vertex_error_mm_final": float(err[-1]),
                "one_step_error_mm": float(one_step.mean()), "persistence_one_step_mm": float(persist.mean()),
                "penetration_pct": fin(pen), "gt_penetration_pct": fin(gt_pen), "lbs_penetration_pct": fin(lbs_pen),
                "stretch_p99": M.stretch_p99(pred[sl], ref.faces, **rest_kw),
                "gt_stretch_p99": M.stretch_p99(gt[sl], ref.faces, **rest_kw),
                "lbs_stretch_p99": M.stretch_p99(lbs[sl], ref.faces, **rest_kw),
                "jitter": float(jit.mean()), "lbs_jitter": float(lbs_jit.mean()),
                "model_ms_per_frame": ms,
                "physics_sec_per_frame": None if phys is None else float(phys),
                "speedup": None if not phys else float(phys * 1000.0 / ms),
            }
            if F >= 300:
                # Long-rollout drift: error over the last 100 frames against frames 100-200.
                mid, last = float(err[100 - n : 200 - n].mean()), float(err[-100:].mean())
                row.update({"vertex_error_mm_100_200": mid, "vertex_error_mm_last100": last, "drift_ratio": last / max(mid, 1e-9)})
            row["nan"] = bool(not np.isfinite(pred).all())
            per_seq.append(row)
            jit_full = np.concatenate([jit, [np.nan]])  # no centre acceleration at the last frame
            lbs_jit_full = np.concatenate([lbs_jit, [np.nan]])
            for i, f in enumerate(range(n, F)):
                per_frame["sequence"].append(tr.name)
                per_frame["frame"].append(f)
                for key, arr in (("vertex_error_mm", err), ("lbs_vertex_error_mm", lbs_err), ("one_step_error_mm", one_step),
                                 ("penetration_pct", pen),
                                 ("gt_penetration_pct", gt_pen), ("lbs_penetration_pct", lbs_pen),
                                 ("jitter", jit_full), ("lbs_jitter", lbs_jit_full)):
                    v = float(arr[i])
                    per_frame[key].append(v if math.isfinite(v) else None)
            curves.append((tr.name, np.arange(n, F), err, lbs_err, pen))
            if render is not None and tr.body_verts is not None:
                shots.append((tr.name, tr.body_verts[:F], tr.body_faces, gt, pred, lbs))
    finally:
        if net is not None:
            torch.set_num_threads(prev_threads)
    w = [r["frames"] for r in per_seq]
    out = {k: _mean([r[k] for r in per_seq], w) for k in SUMMARY_KEYS if k not in ("frames", "speedup")}
    out["frames"] = int(sum(w))
    phys = out["physics_sec_per_frame"]
    out["speedup"] = None if not phys else float(phys * 1000.0 / out["model_ms_per_frame"])
    out.update({"init": init, "stretch_reference": "sewing pattern" if panel_uv is not None else "reference drape",
                "garment": ref.name, "garment_vert_count": ref.vert_count, "model_threads": threads,
                "sequences": per_seq, "per_frame": per_frame})
    if plot is not None:
        plot_errors(Path(plot), curves, title=f"{ref.name}: autoregressive rollout ({init} init)")
        out["plot"] = str(plot)
    if render is not None and shots:
        render_comparison(Path(render), shots, ref.faces, first=n)
        out["render"] = str(render)
    return out


def render_comparison(path: Path, shots, garment_faces: np.ndarray, *, first: int = 0, frames: int = 4, size: int = 200) -> None:
    """One PNG: for each sequence three rows (physics ground truth, model, LBS baseline) of ``frames``
    frames evenly from ``first`` to the end, front view, body in grey.

    shots: [(name, body_verts (F, Vb, 3), body_faces, gt (F, V, 3), pred (F, V, 3), lbs (F, V, 3))].
    """
    from PIL import Image, ImageDraw

    from drape.geometry.render import render_meshes, view_camera

    cam = view_camera("front")
    colors = {"physics": (90, 160, 90), "model": (60, 120, 220), "LBS": (200, 120, 60)}
    rows = []
    for name, body, body_faces, gt, pred, lbs in shots:
        F = len(gt)
        idx = np.unique(np.linspace(first, F - 1, frames).round().astype(int))
        bounds = []
        for f in idx:
            pts = cam.to_view(np.concatenate([body[f, ::7], gt[f], pred[f]]).astype(np.float64))
            lo, hi = pts.min(0), pts.max(0)
            bounds.append(((lo + hi) / 2, float(max(hi[0] - lo[0], hi[1] - lo[1]) / 2 * 1.05)))
        for label, verts in (("physics", gt), ("model", pred), ("LBS", lbs)):
            row = Image.new("RGB", (size * len(idx), size), (255, 255, 255))
            for i, f in enumerate(idx):
                rgb = render_meshes([(body[f], body_faces, (200, 200, 200)), (verts[f], garment_faces, colors[label])],
                                    view="front", size=size, bounds=bounds[i])
                im = Image.fromarray(rgb)
                ImageDraw.Draw(im).text((4, 4), f"{name[:28]} f{f} {label}", fill=(0, 0, 0))
                row.paste(im, (i * size, 0))
            rows.append(row)
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, size * len(rows)), (255, 255, 255))
    for i, r in enumerate(rows):
        sheet.paste(r, (0, i * size))
    from drape.data.sequence import atomic_write_bytes

    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def plot_errors(path: Path, curves, *, title: str = "") -> None:
    """Error-vs-frame PNG: model and LBS vertex error (mm) per sequence, and the model's penetration %."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, f, err, lbs, pen) in enumerate(curves):
        c = f"C{i % 10}"
        ax[0].plot(f, err, color=c, lw=1.5, label=f"{name} model")
        ax[0].plot(f, lbs, color=c, lw=1.0, ls="--", label=f"{name} LBS")
        if np.isfinite(pen).any():
            ax[1].plot(f, pen, color=c, lw=1.2, label=name)
    ax[0].set_xlabel("frame")
    ax[0].set_ylabel("mean vertex error (mm)")
    ax[0].grid(alpha=0.3)
    ax[0].legend(fontsize=7)
    ax[1].set_xlabel("frame")
    ax[1].set_ylabel("garment vertices > 1 mm inside body (%)")
    ax[1].grid(alpha=0.3)
    if len(curves) <= 8:
        ax[1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
