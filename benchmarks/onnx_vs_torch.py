"""ms per garment-dynamics step: the torch model against its ONNX export (numpy + onnxruntime), one thread.

Synthetic garment of about 5k vertices on a 31-bone rig with random weights and poses (as in
``benchmarks/model_step.py``); random network weights with the zero-initialised output layers
perturbed so the prediction is not trivially zero. Both ONNX graph kinds are timed: ``network``
(numpy rasterize/sample around the network) and ``predict`` (all gathers in the graph).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/onnx_vs_torch.py [--size 64] [--verts-per-side 40]

Prints median / min milliseconds (min is the better estimate on a shared, loaded machine), the
split into features / raster+network+sample / skinning, and the max vertex difference of one step.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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
    import onnxruntime
    import torch

    from drape.export.onnx import export_onnx
    from drape.model.dynamics import GarmentDynamicsModel, ModelConfig
    from drape.model.features import Normalizer, build_reference, global_features, vertex_features
    from drape.model.onnx_backend import OnnxGarmentDynamics
    from drape.model.synthetic import axis_angle_matrix, prism_garment
    from drape.types import GarmentState, SkeletonState

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64, help="UV image size")
    ap.add_argument("--verts-per-side", type=int, default=40, help="prism grid cells per panel (40: 4,920 vertices)")
    ap.add_argument("--widths", default=ModelConfig().widths)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
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
    X = np.stack([h.verts for h in hist])

    config = ModelConfig(image_size=args.size, widths=args.widths)
    model = GarmentDynamicsModel(config, ref)
    C, G = model.vertex_channels, model.global_channels
    norm = Normalizer(np.zeros(C, np.float32), np.ones(C, np.float32), np.zeros(G, np.float32), np.ones(G, np.float32),
                      np.zeros(3, np.float32), np.full(3, 1e-3, np.float32))
    model.set_normalizer(norm)
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for mod in (model.net.head_b, model.net.film[-1]):
            for p in mod.parameters():
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    model.net.eval()
    print(f"garment: {ref.vert_count} vertices, {len(faces)} triangles; rig {J} bones; image {args.size}x{args.size}, "
          f"widths {args.widths}; threads {args.threads}; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}")
    f = lambda m: f"{m[0]:6.2f} / {m[1]:6.2f} ms"  # noqa: E731
    feat = _timeit(lambda: (vertex_features(ref, X, T, model.feature_config), global_features(ref, T, model.feature_config)),
                   args.repeats)
    print(f"features (numpy, shared by all backends)   {f(feat)}")
    vf, _ = vertex_features(ref, X, T, model.feature_config)
    gf = global_features(ref, T, model.feature_config)
    vt, gt = torch.from_numpy(vf)[None], torch.from_numpy(gf)[None]

    def torch_predict():
        with torch.inference_mode():
            model.predict_delta(vt, gt)

    ref_step = model.step(hist, skel).verts
    print(f"torch     predict {f(_timeit(torch_predict, args.repeats))}   step {f(_timeit(lambda: model.step(hist, skel), args.repeats))}")
    with tempfile.TemporaryDirectory() as tmp:
        for graph in ("network", "predict"):
            path = export_onnx(model, Path(tmp) / f"bench_{graph}.onnx", graph=graph)
            ox = OnnxGarmentDynamics.load(path, threads=args.threads)
            pred = _timeit(lambda: ox.predict_delta(vf[None], gf[None]), args.repeats)
            step = _timeit(lambda: ox.step(hist, skel), args.repeats)
            dev = float(np.abs(ox.step(hist, skel).verts - ref_step).max())
            extra = ""
            if graph == "network":
                x = ox._uv.feature_map(vf[None])
                gn = gf[None]
                net = _timeit(lambda: ox.session.run(None, {"feature_map": x, "skeleton": gn}), args.repeats)
                ras = _timeit(lambda: ox._uv.feature_map(vf[None]), args.repeats)
                img = ox.session.run(None, {"feature_map": x, "skeleton": gn})[0]
                smp = _timeit(lambda: ox._uv.sample(img), args.repeats)
                extra = f"  [rasterize {ras[1]:.2f}, network {net[1]:.2f}, sample {smp[1]:.2f} ms min]"
            print(f"onnx/{graph:8s}predict {f(pred)}   step {f(step)}   step max |dx| vs torch {dev * 1e3:.2e} mm"
                  f"   file {path.stat().st_size / 1e6:.1f} MB{extra}")


if __name__ == "__main__":
    main()
