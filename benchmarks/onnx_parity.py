"""Torch vs ONNX Runtime on a trained model: max vertex deviation over a long rollout, and ms/frame.

Both backends roll the same model out on the same motion from the same start (the reference
drape skinned to the first i+1 frames, so no physics is needed), one thread each; each timed
rollout follows an untimed one of ``WARMUP_STEPS`` frames (as in ``drape eval``), so neither
backend carries first-call costs:

    OMP_NUM_THREADS=1 python benchmarks/onnx_parity.py --model models/tshirt.npz --motion walk --frames 300

Prints JSON: frames, garment vertex count, max and mean deviation (mm), ms/frame per backend.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model .npz from drape train")
    ap.add_argument("--motion", default="walk", help="motion (a looping clip is repeated to --frames)")
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()

    from drape.animate import load_model, prepare_motion, rest_init_states
    from drape.body import Body
    from drape.eval.evaluate import WARMUP_STEPS
    from drape.rollout import rollout, warm_up
    from drape.types import BodyShape, SkeletonState

    torch_model, _ = load_model(args.model, backend="torch")
    onnx_model, _ = load_model(args.model, backend="onnx", threads=1)
    import torch

    torch.set_num_threads(1)
    ref = torch_model.reference
    fps = float(torch_model.config.fps)
    motion = prepare_motion(args.motion, fps=fps, frames=args.frames)
    shape = BodyShape.from_dict(ref.meta.get("body_shape") or {})
    posed = Body(shape).pose_motion(motion)
    T = posed.skeleton.bone_transforms
    skel = SkeletonState(posed.skeleton.joint_positions, posed.skeleton.joint_rotations, T)
    n = int(torch_model.config.window) + 1
    init = rest_init_states(ref, T[:n], fps=fps)
    out, ms = {}, {}
    for name, model in (("torch", torch_model), ("onnx", onnx_model)):
        warm_up(model, init, skel, WARMUP_STEPS)
        t0 = time.perf_counter()
        out[name] = rollout(model, init, skel)
        ms[name] = (time.perf_counter() - t0) * 1e3 / max(1, len(T) - n)
    dev = np.linalg.norm(out["torch"].astype(np.float64) - out["onnx"], axis=-1) * 1e3
    print(json.dumps({
        "model": args.model, "motion": motion.name, "frames": int(len(T)), "garment_vert_count": int(ref.vert_count),
        "max_deviation_mm": float(dev.max()), "mean_deviation_mm": float(dev.mean()),
        "finite": bool(np.isfinite(out["torch"]).all() and np.isfinite(out["onnx"]).all()),
        "torch_ms_per_frame": round(ms["torch"], 2), "onnx_ms_per_frame": round(ms["onnx"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
