"""``drape animate``: dress a moving body in a garment predicted by a learned model.

Loads the garment-dynamics model (a file, or the bundled model of the garment), poses the
body on the motion, starts the garment from the physics engine's first frames
(``--init physics``, the default) or from its rest drape skinned to the first frames
(``--init rest``, no simulator), lets the model predict every later frame, and writes to
``--out DIR``:

- ``avatar.glb``: skinned body with skeleton animation and the animated garment
  (``drape view DIR`` plays it in a browser);
- ``preview.gif``: 256 px, every 2nd frame;
- ``report.json``: frames, model ms per frame, physics start cost, garment, motion, model file;
- ``frames/``: one OBJ per frame, with ``--obj``.

Example::

    drape animate --garment skirt --motion walk --model models/skirt.npz --out out/skirt-walk

Fast setting for tests: a tiny model (``drape dataset build --garments tube --motions swing
--frames 4 --settle-frames 2 --blend-frames 1 --vert-count 400`` then ``drape train ... --steps 5``)
and ``--garment tube --motion swing --frames 8 --init rest``.
"""

from __future__ import annotations

import argparse
import json

from drape.types import DrapeError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "animate",
        help="animate a garment on a moving body with a learned model and write the avatar",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--garment", required=True, help="garment library name (tshirt, skirt...) or garment file")
    p.add_argument("--motion", required=True, help="built-in clip name or BVH file")
    p.add_argument("--model", default=None, help="model file (.npz, or .onnx with --backend onnx) or bundled model name "
                                                 "(default: the bundled model of --garment)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--body-shape", default="", help="body shape name=value,... or JSON file (default and only choice: "
                                                   "the body the model was trained on)")
    p.add_argument("--frames", type=int, default=None, help="motion frames to animate (default: the whole clip)")
    p.add_argument("--init", choices=("physics", "rest"), default="physics",
                   help="first frames from the physics engine (default) or the rest drape skinned")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch", help="inference backend (default: torch)")
    p.add_argument("--threads", type=int, default=1, help="inference threads (default: 1)")
    p.add_argument("--obj", action="store_true", help="also write frames/ (one OBJ per frame)")
    p.add_argument("--preview", action=argparse.BooleanOptionalAction, default=True, help="write preview.gif")
    p.add_argument("--settle-frames", type=int, default=None,
                   help="physics start: settle frames (default: the model's training setting)")
    p.add_argument("--blend-frames", type=int, default=None,
                   help="physics start: rest-to-motion blend frames (default: the model's training setting)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drape.animate import animate

    if args.frames is not None and args.frames < 1:
        raise DrapeError(f"--frames: expected a positive integer, got {args.frames}")
    if args.threads < 1:
        raise DrapeError(f"--threads: expected a positive integer, got {args.threads}")
    overrides = {"settle_frames": args.settle_frames, "blend_frames": args.blend_frames}
    result = animate(
        garment=args.garment,
        motion=args.motion,
        model=args.model,
        body_shape=args.body_shape or None,
        frames=args.frames,
        init=args.init,
        backend=args.backend,
        obj=args.obj,
        preview=args.preview,
        threads=args.threads,
        sim_overrides={k: v for k, v in overrides.items() if v is not None},
        out_dir=args.out,
        progress=args.progress,
    )
    r = result.report
    print(json.dumps({k: r[k] for k in ("frames", "garment", "motion", "init", "backend", "model_ms_per_frame",
                                         "physics_init_sec", "glb_bytes", "wall_sec")}))
    wrote = ", ".join(p.name for p in (result.glb, result.preview, result.report_path, result.obj_dir) if p is not None)
    print(f"drape animate: wrote {wrote} in {result.out_dir}; play it with: drape view {result.out_dir}")
    return 0
