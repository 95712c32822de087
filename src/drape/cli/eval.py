"""``drape eval``: measure a trained garment-dynamics model on full autoregressive rollouts.

For each ``--motion`` the ground truth is either simulated on the spot with the physics
engine (the garment, body shape and solver settings recorded in the model; the simulator's
s/frame is measured in the same run) or read from a dataset folder (``--data DIR``, the
sequence of that motion). The model then rolls out from the first i+1 simulated frames
(``--init physics``) or from the LBS-posed reference drape (``--init rest``), never
teacher-forced, and is compared frame by frame.

``--json OUT`` receives: vertex_error_mm, lbs_vertex_error_mm, penetration_pct,
gt_penetration_pct, lbs_penetration_pct, stretch_p99, gt_stretch_p99, jitter (m/s^2),
lbs_jitter, model_ms_per_frame (one process, one thread: features, contact, network,
skinning), physics_sec_per_frame, speedup, frames, sequences (the same per motion) and
per_frame (arrays). ``--plot PNG`` draws error against frame.

Example::

    drape eval --model models/tshirt.npz --motion walk_forward --frames 300 --json out/eval.json

Fast setting for tests: ``--data synthetic --motion synth3 --frames 12`` with a model from
``drape train --data synthetic``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from drape.types import BodyShape, DrapeError

SYNTHETIC = "synthetic"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a trained garment-dynamics model against physics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="model file from 'drape train'")
    p.add_argument("--motion", action="append", required=True,
                   help="motion name or BVH path (repeatable); with --data, the motion name of a dataset sequence")
    p.add_argument("--frames", type=int, default=None, help="frames per motion (default: all)")
    p.add_argument("--body-shape", default=None,
                   help="body shape name=value,... (default: the model's); the garment must keep its vertex count")
    p.add_argument("--render", default=None, help="PNG of physics / model / LBS side by side at 4 frames per motion")
    p.add_argument("--data", default=None, help=f"dataset folder with the ground truth ('{SYNTHETIC}': the synthetic set)")
    p.add_argument("--init", choices=("physics", "rest"), default="physics",
                   help="first i+1 frames: simulated (physics) or the skinned reference drape (rest)")
    p.add_argument("--json", required=True, help="output JSON file")
    p.add_argument("--plot", default=None, help="error-vs-frame PNG (default: next to --json)")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                   help="inference backend: torch, or onnxruntime + numpy (a .npz model is exported to ONNX once)")
    p.add_argument("--threads", type=int, default=1, help="threads for the rollout's network (default: 1)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show progress bars")
    p.set_defaults(func=run)


def _dataset_tracks(data_dir: str, model, motions: list[str], shape: BodyShape | None):
    from drape.data.windows import load_training_data, names_motion

    path = Path(data_dir)
    if not path.is_dir():
        raise DrapeError(f"--data {path}: no such folder")
    meta_shape = model.reference.meta.get("body_shape")
    if shape is None and meta_shape:
        shape = BodyShape.from_dict(meta_shape)
    data = load_training_data(path, model.reference.name, body_shape=shape)
    chosen = []
    for m in motions:
        # "07_01", "07_01.bvh" and ".../07_01.bvh" name one motion, "13_29@24" one segment of it
        # (as in the train/validation split).
        hits = [t for t in data.tracks if names_motion(m, t.motion) or t.name == m]
        if not hits:
            raise DrapeError(f"--data {path}: no sequence of motion {m!r} for garment {model.reference.name} "
                             f"(motions: {', '.join(data.motions)})")
        chosen += [t for t in hits if t not in chosen]
    return chosen, data.panel_uv, {}


def _simulated_tracks(model, motions: list[str], frames: int | None, shape: BodyShape | None, progress: bool):
    from drape.cache import configure

    configure()
    from drape.sim.inputs import resolve_garment, resolve_motion
    from drape.data.windows import track_from_sequence
    from drape.sim.config import SimConfig
    from drape.sim.simulate import simulate

    meta = model.reference.meta or {}
    if "garment" not in meta:
        raise DrapeError(f"model garment {model.reference.name}: the model does not record how its garment was built; "
                         "evaluate with --data DIR instead")
    if shape is None:
        shape = BodyShape.from_dict(meta.get("body_shape") or {})
    config = SimConfig(**(meta.get("sim_config") or {}))
    if abs(config.fps - model.config.fps) > 1e-6:
        raise DrapeError(f"model works at {model.config.fps} fps but its simulator settings say {config.fps} fps")
    garment = resolve_garment(meta["garment"], body_shape=shape, vert_count=meta.get("vert_count"))
    if garment.vert_count != model.reference.vert_count:
        raise DrapeError(f"garment {meta['garment']} on body {shape.to_dict()} has {garment.vert_count} vertices; "
                         f"the model was trained on {model.reference.vert_count}")
    tracks, phys = [], {}
    for m in motions:
        motion = resolve_motion(m, fps=config.fps, frames=frames)
        F = min(frames, motion.frame_count) if frames else None
        result = simulate(garment, motion, body_shape=shape, frames=F, config=config, progress=progress)
        tr = track_from_sequence(result.sequence, name=Path(m).stem if Path(m).suffix else m)
        tracks.append(tr)
        phys[tr.name] = result.sec_per_frame
    return tracks, garment.panel_uv, phys


def run(args: argparse.Namespace) -> int:
    from drape.animate import load_model
    from drape.eval.evaluate import evaluate

    if args.frames is not None and args.frames < 4:
        raise DrapeError(f"--frames: expected at least 4, got {args.frames}")
    model, _ = load_model(args.model, backend=args.backend, threads=args.threads)
    shape = BodyShape.parse(args.body_shape) if args.body_shape else None
    if args.data == SYNTHETIC:
        from drape.data.windows import synthetic_training_data

        data = synthetic_training_data()
        if model.reference.vert_count != data.reference.vert_count:
            raise DrapeError(f"--data {SYNTHETIC}: the model's garment has {model.reference.vert_count} vertices, "
                             f"the synthetic one {data.reference.vert_count}")
        by_motion = {t.motion: t for t in data.tracks}
        missing = [m for m in args.motion if m not in by_motion]
        if missing:
            raise DrapeError(f"--data {SYNTHETIC}: unknown motions {missing}; choose from {', '.join(by_motion)}")
        tracks, panel_uv, phys = [by_motion[m] for m in args.motion], None, {}
    elif args.data:
        tracks, panel_uv, phys = _dataset_tracks(args.data, model, args.motion, shape)
    else:
        tracks, panel_uv, phys = _simulated_tracks(model, args.motion, args.frames, shape, args.progress)
    out = Path(args.json)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    result = evaluate(model, tracks, frames=args.frames, init=args.init, panel_uv=panel_uv, plot=plot,
                      threads=args.threads, physics_sec_per_frame=phys, render=args.render, progress=args.progress)
    result["model"] = str(args.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, out)
    fmt = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
    print(f"{model.reference.name}: {result['frames']} frames, vertex error {fmt(result['vertex_error_mm'], '.2f')} mm "
          f"(LBS {fmt(result['lbs_vertex_error_mm'], '.2f')} mm), penetration {fmt(result['penetration_pct'], '.2f')}% "
          f"(physics {fmt(result['gt_penetration_pct'], '.2f')}%), {fmt(result['model_ms_per_frame'], '.1f')} ms/frame, "
          f"speedup {fmt(result['speedup'], '.0f')}{'' if result['speedup'] is None else 'x'} -> {out}")
    return 0
