"""``drape demo``: dress the average body in the T-shirt, walk it, and write an animated avatar.

Runs the learned pipeline (``drape animate``) on built-in defaults: the bundled T-shirt
model is loaded, the built-in ``walk`` clip is retargeted onto the rig and looped to
``--frames``, the physics engine drapes the garment and simulates only the first frames
the model needs, and the network predicts every later frame. Written to ``--out DIR``:

- ``avatar.glb``: skinned body with skeleton animation and the animated garment
  (opens in Blender and three.js; ``drape view DIR`` plays it in a browser);
- ``preview.gif``: the animation at 256 px;
- ``report.json``: frames, model ms per frame, the physics start's cost, files.

``drape simulate`` runs the physics engine on every frame instead (the ground truth).

Fast setting for tests: ``--garment tube --motion swing --model TINY.npz --frames 6 --init rest``.
"""

from __future__ import annotations

import argparse
import json
import time

from drape.types import DrapeError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the learned pipeline on built-in defaults (T-shirt, walk) and write an animated avatar",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="out/demo", help="output directory (default: out/demo)")
    p.add_argument("--garment", default="tshirt", help="garment library name (default: tshirt)")
    p.add_argument("--motion", default="walk", help="motion name or BVH path (default: walk)")
    p.add_argument("--model", default=None, help="model file or bundled model name (default: the garment's bundled model)")
    p.add_argument("--frames", type=int, default=150, help="motion frames; a looping clip is repeated (default: 150)")
    p.add_argument("--init", choices=("physics", "rest"), default="physics",
                   help="first frames from the physics engine (default) or the rest drape skinned")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch", help="inference backend (default: torch)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drape.animate import animate

    if args.frames < 1:
        raise DrapeError(f"--frames: expected a positive integer, got {args.frames}")
    t0 = time.perf_counter()
    print(f"drape demo: {args.garment} on {args.motion}, {args.frames} frames, {args.init} start -> {args.out}", flush=True)
    result = animate(
        garment=args.garment, motion=args.motion, model=args.model, frames=args.frames, init=args.init,
        backend=args.backend, out_dir=args.out, progress=args.progress,
    )
    r = result.report
    summary = {k: r.get(k) for k in ("frames", "garment", "garment_vert_count", "motion", "init", "backend",
                                      "model_ms_per_frame", "physics_init_sec", "glb_bytes")}
    summary["wall_sec"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(summary))
    wrote = ", ".join(p.name for p in (result.glb, result.preview, result.report_path) if p is not None)
    print(f"drape demo: wrote {wrote} in {result.out_dir}; play it with: drape view {result.out_dir}")
    return 0
