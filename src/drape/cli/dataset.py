"""``drape dataset``: generate simulated training sequences, resumably.

``drape dataset build`` simulates every (garment, motion, body shape)
combination into ``--out DIR`` (one folder per sequence with sequence.npz,
rest_drape.npy, report.json and preview.png; ``index.jsonl`` logs every
attempt). Run the same command again to resume: finished sequences are
skipped, failed ones retried. ``drape dataset status DIR`` shows progress.

Example::

    drape dataset build --garments tshirt,skirt --motions walk,run,../shared/motions/cmu \\
        --body-shapes "default;gender=0.2,height=0.7" --frames 300 --out datasets/v1 --workers 2

Fast setting for tests: ``--garments tube --motions swing --frames 3 --settle-frames 2
--blend-frames 1 --vert-count 400 --workers 0``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from drape.config import add_config_arguments, config_from_args
from drape.types import DrapeError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dataset",
        help="generate simulated training sequences (resumable)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="dataset_command", metavar="ACTION")

    b = sub.add_parser("build", help="simulate every garment x motion x body shape into a dataset folder",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--garments", required=True, help="comma-separated garment names ('tube' is a small test skirt)")
    b.add_argument("--motions", required=True,
                   help="comma-separated built-in clip names, .bvh files and folders of .bvh files ('swing' is a test motion)")
    b.add_argument("--body-shapes", default="default",
                   help="';'-separated body shapes, each 'default' or name=value,... (default: the average body)")
    b.add_argument("--frames", type=int, default=None, help="motion frames per sequence (default: whole clip)")
    b.add_argument("--vert-count", type=int, default=None, help="target garment vertex count (default: garment's own)")
    b.add_argument("--out", required=True, help="dataset folder (created; reuse it to resume)")
    b.add_argument("--workers", type=int, default=2, help="parallel worker processes; 0 runs in this process (default: 2)")
    b.add_argument("--retries", type=int, default=2, help="extra attempts for a failing task in this run (default: 2)")
    b.add_argument("--preview-frames", type=int, default=4, help="frames in each preview.png (0: none; default: 4)")
    b.add_argument("--dry-run", action="store_true", help="print the task list and exit")
    b.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    from drape.sim.config import SimConfig

    add_config_arguments(b, SimConfig)
    b.set_defaults(dataset_func=run_build)

    s = sub.add_parser("status", help="done / failed / pending tasks of a dataset folder")
    s.add_argument("dir", help="dataset folder")
    s.add_argument("--json", action="store_true", help="print the full status as JSON")
    s.add_argument("--all", action="store_true", help="list every task, not only failed and pending ones")
    s.set_defaults(dataset_func=run_status)
    p.set_defaults(func=run, dataset_parser=p)


def run(args: argparse.Namespace) -> int:
    func = getattr(args, "dataset_func", None)
    if func is None:
        args.dataset_parser.print_help()
        return 2
    return func(args)


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def run_build(args: argparse.Namespace) -> int:
    from drape.data.build import build_dataset, expand_motions, parse_body_shapes, plan_tasks
    from drape.sim.config import SimConfig

    if args.frames is not None and args.frames < 1:
        raise DrapeError(f"--frames: expected a positive integer, got {args.frames}")
    if args.retries < 0:
        raise DrapeError(f"--retries: expected 0 or more, got {args.retries}")
    if args.vert_count is not None and args.vert_count < 16:
        raise DrapeError(f"--vert-count: expected at least 16, got {args.vert_count}")
    garments = _split(args.garments)
    if not garments:
        raise DrapeError("--garments: expected at least one garment name")
    _check_garments(garments)
    motions = expand_motions(_split(args.motions))
    if not motions:
        raise DrapeError("--motions: expected at least one motion")
    shapes = parse_body_shapes(args.body_shapes)
    config = config_from_args(SimConfig, args)
    tasks = plan_tasks(
        args.out, garments, motions, shapes, frames=args.frames, vert_count=args.vert_count,
        sim_config=config.to_dict(), preview_frames=args.preview_frames,
    )
    if args.dry_run:
        for t in tasks:
            print(f"{t.task_id}\t{t.garment}\t{t.motion}\t{t.body_shape or 'default'}")
        print(f"{len(tasks)} tasks -> {Path(args.out).resolve()}")
        return 0
    summary = build_dataset(
        args.out, tasks, workers=args.workers, retries=args.retries, progress=args.progress,
        extra_manifest={"command": {"garments": garments, "motions": motions,
                                    "body_shapes": args.body_shapes, "frames": args.frames,
                                    "vert_count": args.vert_count}},
    )
    print(
        f"done {summary.done} (+{summary.skipped} earlier, {summary.recovered} recovered), "
        f"failed {len(summary.failed)}, of {summary.total} tasks in {summary.wall_sec:.1f} s"
    )
    if summary.failed:
        print(f"failed tasks (see {Path(args.out) / 'index.jsonl'}; rerun the command to retry):")
        for tid in summary.failed:
            print(f"  {tid}")
        return 1
    return 0


def _check_garments(garments: list[str]) -> None:
    from drape.data.build import TEST_GARMENTS

    try:
        from drape.garment.templates import garment_library
    except ImportError:
        return
    known = [g[0] for g in garment_library()] + list(TEST_GARMENTS)
    unknown = [g for g in garments if g not in known and not Path(g).suffix]
    if unknown:
        raise DrapeError(f"--garments: unknown garment(s) {', '.join(unknown)}; known: {', '.join(known)}")


def run_status(args: argparse.Namespace) -> int:
    from drape.data.build import dataset_status

    st = dataset_status(args.dir)
    if args.json:
        print(json.dumps(st, indent=2, default=str))
        return 0
    print(f"{st['dir']}: {st['total']} tasks: {st['done']} done, {st['failed']} failed, {st['pending']} pending")
    if st["done"]:
        print(f"  {st['frames']} frames simulated, {st['sim_sec'] / 3600:.2f} h of simulation")
    for tid, s in sorted(st["tasks"].items()):
        if s["status"] == "done" and not args.all:
            continue
        line = f"  {s['status']:8s} {tid}"
        if s["status"] == "failed":
            line += f"  (attempts {s['attempts']}): {s['error']}"
        elif s["status"] == "done" and s["report"]:
            r = s["report"]
            line += (f"  frames {r.get('frames')}, {r.get('sec_per_frame', 0):.2f} s/frame, "
                     f"penetration {r.get('penetration_pct')}%, stretch p99 {r.get('stretch_p99')}")
        print(line)
    return 0
