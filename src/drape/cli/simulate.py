"""``drape simulate``: run the physics engine for one garment on one motion and write the results.

Writes into ``--out DIR``:

- ``sequence.npz``: the simulated sequence (``drape.data.sequence`` format);
- ``rest_drape.npy``: (V, 3) float32, the garment draped on the rest-pose body;
- ``report.json``: frames, garment_vert_count, sec_per_frame, nan, penetration_pct
  (mean over frames of the % of garment vertices > 1 mm inside the full body),
  penetration_pct_max, stretch_p99 (p99 over frames and edges of edge length /
  pattern length), plus settings and timings;
- ``preview.png``: a few frames, front and side.

Fast setting for tests: ``--garment tube --motion swing --frames 3 --settle-frames 2 --blend-frames 1``
(a 384-vertex tube skirt and a synthetic leg swing, no garment/motion library needed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from drape.config import add_config_arguments, config_from_args
from drape.types import BodyShape, DrapeError

def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate a garment on a moving body with the physics engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--garment", required=True, help="garment library name or garment file; 'tube' is a small test skirt")
    p.add_argument("--motion", required=True, help="motion name or BVH path; 'swing' is a synthetic leg swing")
    p.add_argument("--body-shape", default="", help="body shape: name=value,... or a JSON file (default: average)")
    p.add_argument("--frames", type=int, default=None, help="motion frames to simulate (default: all)")
    p.add_argument("--vert-count", type=int, default=None, help="target garment vertex count (library garments)")
    p.add_argument("--preview-frames", type=int, default=4, help="frames shown in preview.png (0: no preview)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    p.add_argument("--out", required=True, help="output directory")
    from drape.sim.config import SimConfig

    add_config_arguments(p, SimConfig)
    p.set_defaults(func=run)


def _preview(path: Path, seq, result, count: int) -> None:
    from drape.geometry.render import render_preview

    F = seq.frame_count
    idx = sorted(set(np.linspace(0, F - 1, min(count, F)).round().astype(int).tolist()))
    render_preview(path, seq.body_verts[idx], seq.body_faces, seq.garment_verts[idx], seq.garment_faces,
                   titles=[f"frame {i}" for i in idx])


def run(args: argparse.Namespace) -> int:
    from drape.sim.config import SimConfig
    from drape.data.sequence import save_sequence
    from drape.sim.inputs import resolve_garment, resolve_motion
    from drape.sim.report import quality_report
    from drape.sim.simulate import SimulationError, simulate

    config = config_from_args(SimConfig, args)
    shape = BodyShape.parse(args.body_shape)
    if args.frames is not None and args.frames < 1:
        raise DrapeError(f"--frames: expected a positive integer, got {args.frames}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    garment = resolve_garment(args.garment, body_shape=shape, vert_count=args.vert_count)
    motion = resolve_motion(args.motion, fps=config.fps, frames=args.frames)
    frames = min(args.frames, motion.frame_count) if args.frames else None

    t0 = time.perf_counter()
    error = None
    try:
        result = simulate(garment, motion, body_shape=shape, frames=frames, config=config, progress=args.progress)
    except SimulationError as exc:
        error = exc
        result = exc.partial
    wall = time.perf_counter() - t0

    report = {
        "frames": 0 if result is None else result.sequence.frame_count,
        "garment": garment.name,
        "garment_vert_count": garment.vert_count,
        "motion": motion.name,
        "sec_per_frame": None if result is None else result.sec_per_frame,
        "settle_sec": None if result is None else result.settle_sec,
        "wall_sec": wall,
        "nan": error is not None,
        "error": None if error is None else str(error),
        "config": config.to_dict(),
        "body_shape": shape.to_dict(),
    }
    if result is not None and result.sequence.frame_count:
        report.update(quality_report(result.sequence, garment.panel_uv))
        seq_path = save_sequence(out / "sequence.npz", result.sequence)
        report["sequence_file"] = str(Path(seq_path).name) if seq_path else "sequence.npz"
        np.save(out / "rest_drape.npy", result.rest_drape)
        if args.preview_frames > 0:
            _preview(out / "preview.png", result.sequence, result, args.preview_frames)
            report["preview"] = "preview.png"
    (out / "report.json").write_text(json.dumps(report, indent=2))
    if error is not None:
        raise error
    summary = {k: report[k] for k in ("frames", "garment_vert_count", "sec_per_frame", "penetration_pct", "stretch_p99")}
    print(json.dumps(summary))
    return 0
