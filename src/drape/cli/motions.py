"""``drape motions``: list the built-in motion clips, or describe a BVH file."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "motions",
        help="list built-in motion clips, or describe a BVH file",
        description="List the built-in motion clips (name, keyframes, fps, seconds, loop). "
        "With --show, describe a BVH file: joints, channels, frames, the detected skeleton preset.",
    )
    p.add_argument("--show", metavar="PATH.bvh", help="describe this BVH file instead of listing the clips")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.show:
        return _show(args.show)
    from drape.motion.library import builtin_clips

    clips = builtin_clips()
    width = max(len(c.name) for c in clips)
    print(f"{'name':<{width}}  {'frames':>6}  {'fps':>6}  {'seconds':>7}  loop")
    for c in clips:
        print(f"{c.name:<{width}}  {c.frames:>6}  {c.fps:>6.1f}  {c.duration:>7.2f}  {'yes' if c.loop else 'no'}")
    print(f"{len(clips)} clips (pybullet DeepMimic humanoid motions); also: any .bvh file (see --show)")
    return 0


def _show(path: str) -> int:
    from drape.motion.bvh import read_bvh
    from drape.motion.retarget import detect_preset
    from drape.motion.source import source_from_bvh

    bvh = read_bvh(path)
    preset = detect_preset(bvh.joint_names)
    print(f"file:      {path}")
    print(f"joints:    {bvh.joint_count}   channels: {bvh.channel_count}   end sites: {len(bvh.end_sites)}")
    print(f"frames:    {bvh.frame_count}   frame time: {bvh.frame_time:.6g} s ({bvh.fps:.2f} fps)   "
          f"duration: {bvh.duration:.2f} s")
    orders = sorted({"".join(c[0] for c in ch if c.endswith("rotation")) for ch in bvh.channels if ch})
    print(f"rotation orders: {', '.join(orders)}")
    print(f"preset:    {preset or 'unknown (pass a joint map JSON to load it)'}")
    if preset:
        from drape.motion.retarget import resolve_mapping, source_leg_length

        src = source_from_bvh(bvh)
        _, mapping = resolve_mapping(src, preset=preset)
        print(f"mapped rig bones: {len(mapping)} of 31   leg length: {source_leg_length(src, mapping):.4g} file units")
    print("hierarchy:")
    depth = {}
    for j, (name, p) in enumerate(zip(bvh.joint_names, bvh.parents)):
        depth[j] = 0 if p < 0 else depth[int(p)] + 1
        chans = " ".join(c[:1] + ("p" if c.endswith("position") else "r") for c in bvh.channels[j])
        print(f"  {'  ' * depth[j]}{name}  [{chans}]")
    return 0
