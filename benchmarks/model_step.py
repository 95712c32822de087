"""Time one garment-dynamics step on one CPU thread (features, contact, UV map, network, sampling, skinning).

Synthetic garment of about 5k vertices, 31-bone rig, random weights and poses; the network's
weights are random too (timing does not depend on training).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/model_step.py [--sizes 64,96] [--verts-per-side 40]

Prints median / min milliseconds (min is the better estimate on a shared, loaded machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _timeit(fn, repeats):
    for _ in range(3):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1e3), float(np.min(ts) * 1e3)


def main() -> None:
    import torch

    from drape.model.dynamics import GarmentDynamicsModel, ModelConfig
    from drape.model.features import build_reference, global_features, vertex_features
    from drape.model.net import param_count
    from drape.model.synthetic import axis_angle_matrix, prism_garment
    from drape.types import GarmentState, SkeletonState

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="64,96")
    ap.add_argument("--verts-per-side", type=int, default=40)
    ap.add_argument("--widths", default=ModelConfig().widths)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = args.verts_per_side
    J = 31
    names = tuple(["Hips"] + [f"Spine{j}" for j in range(1, J)])
    verts, faces, uv = prism_garment(n, n)
    bverts, bfaces, _ = prism_garment(20, 20, side=0.2, height=0.5)
    bw = rng.dirichlet(np.ones(J) * 0.1, size=len(bverts)).astype(np.float32)
    ref = build_reference(name="bench", faces=faces, atlas_uv=uv, rest_drape=verts, bone_names=names,
                          body_rest_verts=bverts, body_faces=bfaces, body_skin_weights=bw, rest_root=np.zeros(3))
    T = np.tile(np.eye(4, dtype=np.float32), (4, J, 1, 1))
    T[:, :, :3, :3] = axis_angle_matrix(rng.normal(size=(4, J, 3)) / np.sqrt(3), rng.uniform(0, 0.3, (4, J)))
    T[:, :, :3, 3] = rng.normal(scale=0.05, size=(4, J, 3))
    hist = tuple(GarmentState(verts + 0.001 * f, np.zeros_like(verts)) for f in range(3))
    skel = SkeletonState(np.zeros((4, J, 3), np.float32), T[:, :, :3, :3], T)
    print(f"garment: {ref.vert_count} vertices, {len(faces)} triangles; rig {J} bones; torch threads 1")
    X = np.stack([h.verts for h in hist])
    for size in (int(s) for s in args.sizes.split(",")):
        model = GarmentDynamicsModel(ModelConfig(image_size=size, widths=args.widths), ref)
        model.net.eval()
        feat = _timeit(lambda: (vertex_features(ref, X, T, model.feature_config), global_features(ref, T, model.feature_config)), args.repeats)
        vf, _ = vertex_features(ref, X, T, model.feature_config)
        gf = global_features(ref, T, model.feature_config)
        vt, gt = torch.from_numpy(vf)[None], torch.from_numpy(gf)[None]

        def net_only():
            with torch.inference_mode():
                model.forward_normalized(vt, gt)

        net = _timeit(net_only, args.repeats)
        step = _timeit(lambda: model.step(hist, skel), args.repeats)
        f = lambda m: f"{m[0]:.2f}/{m[1]:.2f} ms"  # noqa: E731
        print(f"{size}x{size}: params {param_count(model.net)}, features {f(feat)}, "
              f"raster+net+sample {f(net)}, whole step {f(step)}")


if __name__ == "__main__":
    main()
