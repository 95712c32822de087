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

BUILTIN_GARMENTS = ("tube",)
BUILTIN_MOTIONS = ("swing",)


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


def _load_garment(spec: str, shape: BodyShape, vert_count: int | None):
    if spec == "tube":
        from drape.body.model import Body
        from drape.sim.testing import make_tube_garment

        kw = {}
        if vert_count:
            around = max(8, int(round(np.sqrt(vert_count * 32 / 12))))
            kw = {"around": around, "rows": max(3, int(round(vert_count / around)))}
        return make_tube_garment(Body(shape), **kw)
    try:
        from drape.garment import make_garment
    except ImportError:
        make_garment = None
    if make_garment is None:
        try:
            from drape.garment.templates import make_garment
        except ImportError:
            make_garment = None
    if make_garment is None:
        raise DrapeError(
            f"garment {spec!r}: the garment library (drape.garment.make_garment) is not available; "
            f"built-in test garments: {', '.join(BUILTIN_GARMENTS)}"
        )
    kw = {"body_shape": shape}
    if vert_count:
        kw["vert_count"] = vert_count
    return make_garment(spec, **kw)


def _load_motion(spec: str, fps: float, frames: int | None, shape: BodyShape):
    if spec == "swing":
        from drape.body.model import Body
        from drape.sim.testing import make_swing_motion

        return make_swing_motion(Body(), frames=max(frames or 60, 1), fps=fps)
    try:
        from drape.motion import load_motion
    except ImportError:
        try:
            from drape.motion.library import load_motion
        except ImportError:
            raise DrapeError(
                f"motion {spec!r}: the motion library (drape.motion.load_motion) is not available; "
                f"built-in test motions: {', '.join(BUILTIN_MOTIONS)}"
            ) from None
    return load_motion(spec, fps=fps, body_shape=shape if shape.params else None)


def _metrics():
    """(save_sequence, penetration_pct, stretch_ratios): the shared modules, else the local stand-ins."""
    from drape.sim import _standins

    try:
        from drape.data.sequence import save_sequence
    except ImportError:
        save_sequence = _standins.save_sequence
    try:
        from drape.geometry.distance import penetration_pct
    except ImportError:
        penetration_pct = _standins.penetration_pct
    try:
        from drape.geometry.mesh_ops import stretch_ratios
    except ImportError:
        stretch_ratios = _standins.stretch_ratios
    return save_sequence, penetration_pct, stretch_ratios


def sequence_report(seq, garment) -> dict:
    """Penetration and stretch figures of a simulated sequence."""
    _, penetration_pct, stretch_ratios = _metrics()
    kw = {}
    try:
        from drape.geometry.distance import MeshTopology

        kw["topology"] = MeshTopology(seq.body_faces)
    except ImportError:
        pass
    pen = np.array([penetration_pct(seq.garment_verts[f], seq.body_verts[f], seq.body_faces, **kw) for f in range(seq.frame_count)])
    ratios = np.asarray(stretch_ratios(seq.garment_verts, garment.faces, garment.panel_uv))
    return {
        "penetration_pct": float(pen.mean()) if len(pen) else 0.0,
        "penetration_pct_max": float(pen.max()) if len(pen) else 0.0,
        "penetration_pct_per_frame": [round(float(x), 4) for x in pen],
        "stretch_p99": float(np.nanpercentile(ratios, 99)) if ratios.size else 1.0,
        "stretch_max": float(np.nanmax(ratios)) if ratios.size else 1.0,
    }


def _preview(path: Path, seq, result, count: int) -> None:
    try:
        from drape.geometry.render import render_preview
    except ImportError:
        from drape.sim._standins import render_preview
    F = seq.frame_count
    idx = sorted(set(np.linspace(0, F - 1, min(count, F)).round().astype(int).tolist()))
    render_preview(path, seq.body_verts[idx], seq.body_faces, seq.garment_verts[idx], seq.garment_faces,
                   titles=[f"frame {i}" for i in idx])


def run(args: argparse.Namespace) -> int:
    from drape.sim.config import SimConfig
    from drape.sim.simulate import SimulationError, simulate

    config = config_from_args(SimConfig, args)
    shape = BodyShape.parse(args.body_shape)
    if args.frames is not None and args.frames < 1:
        raise DrapeError(f"--frames: expected a positive integer, got {args.frames}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    garment = _load_garment(args.garment, shape, args.vert_count)
    motion = _load_motion(args.motion, config.fps, args.frames, shape)
    frames = min(args.frames, motion.frame_count) if args.frames else None

    save_sequence, _, _ = _metrics()
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
        report.update(sequence_report(result.sequence, garment))
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
