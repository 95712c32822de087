"""Physics seconds per frame with and without launch replay, and whether both give the same sequence.

Runs ``drape.sim.simulate`` on one garment and motion, alternating plain Warp launches and
recorded-launch replay (``drape.sim.newton_cloth.REPLAY_LAUNCHES``), ``--repeats`` times each,
one thread:

    OMP_NUM_THREADS=1 python benchmarks/sim_speed.py --garment tshirt --motion dance_b --frames 30

Prints JSON: per-run sec_per_frame for each mode, their means, the speed ratio, and
``bit_identical`` (garment vertices, velocities and rest drape equal between the modes).
The rest drape comes from the drape cache after the first run, so the timed part is the
blend-in and motion frames.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--garment", default="tshirt", help="garment name or file (as drape simulate --garment)")
    ap.add_argument("--motion", default="dance_b", help="motion name or BVH path")
    ap.add_argument("--frames", type=int, default=30, help="motion frames per run")
    ap.add_argument("--repeats", type=int, default=2, help="runs per mode")
    args = ap.parse_args()
    if args.frames < 1 or args.repeats < 1:
        ap.error("--frames and --repeats must be >= 1")

    import drape.sim.newton_cloth as newton_cloth
    from drape.sim.config import SimConfig
    from drape.sim.inputs import resolve_garment, resolve_motion
    from drape.sim.simulate import simulate

    config = SimConfig(self_collision=False)
    garment = resolve_garment(args.garment)
    motion = resolve_motion(args.motion, fps=config.fps)
    frames = min(args.frames, motion.frame_count)
    times: dict[str, list[float]] = {"plain": [], "replay": []}
    results = {}
    for _ in range(args.repeats):
        for mode in ("plain", "replay"):
            newton_cloth.REPLAY_LAUNCHES = mode == "replay"
            r = simulate(garment, motion, frames=frames, config=config)
            times[mode].append(round(r.sec_per_frame, 4))
            results[mode] = r
    a, b = results["plain"], results["replay"]
    same = (
        np.array_equal(a.sequence.garment_verts, b.sequence.garment_verts)
        and np.array_equal(a.sequence.garment_velocities, b.sequence.garment_velocities)
        and np.array_equal(a.rest_drape, b.rest_drape)
    )
    mean = {k: float(np.mean(v)) for k, v in times.items()}
    print(json.dumps({
        "garment": garment.name, "garment_vert_count": garment.vert_count, "motion": motion.name, "frames": frames,
        "sec_per_frame": times, "mean_sec_per_frame": mean, "replay_speedup": mean["plain"] / mean["replay"],
        "bit_identical": bool(same),
    }, indent=1))


if __name__ == "__main__":
    main()
