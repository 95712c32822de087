"""Time one training step (K-step unroll, forward + backward + Adam) on a synthetic garment.

The prism garment with ``--verts-per-side`` cells gives V = 3 n (n + 1) vertices (40: 4,920);
timing does not depend on the data, only on V, the image size, the network, batch and K.

    python benchmarks/train_step.py [--verts-per-side 40] [--batch 4] [--unroll 1,2,4] [--image-size 64] [--threads 1]

Prints median / min seconds per step (min is the better estimate on a shared, loaded machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    import torch

    from drape.data.windows import WindowDataset, fit_normalizer, synthetic_training_data
    from drape.model.dynamics import GarmentDynamicsModel, ModelConfig
    from drape.train.losses import reference_edges
    from drape.train.trainer import TrainConfig, unrolled_loss

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--verts-per-side", type=int, default=40)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--unroll", default="1,2,4")
    ap.add_argument("--image-size", type=int, default=ModelConfig().image_size)
    ap.add_argument("--widths", default=ModelConfig().widths)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ks = [int(k) for k in args.unroll.split(",")]
    n = args.verts_per_side
    data = synthetic_training_data(motions=2, frames=3 + max(ks) + 4, nx=n, ny=n)
    mc = ModelConfig(image_size=args.image_size, widths=args.widths)
    model = GarmentDynamicsModel(mc, data.reference, fit_normalizer(data.reference, data.tracks, mc.features, max_samples=16))
    optim = torch.optim.Adam(model.net.parameters(), lr=1e-4)
    ds = WindowDataset(data.reference, data.tracks, window=mc.window, max_unroll=max(ks), fps=mc.fps)
    edges = reference_edges(data.reference)
    rng = np.random.default_rng(0)
    print(f"garment {data.reference.vert_count} vertices, image {args.image_size}, widths {args.widths}, "
          f"batch {args.batch}, torch threads {args.threads}")
    for K in ks:
        cfg = TrainConfig(unroll=max(ks), batch_size=args.batch)

        def step():
            b = ds.batch(rng.integers(0, len(ds), args.batch), K)
            noise = torch.randn(b["history"].shape) * 1e-3
            loss, _ = unrolled_loss(model, b, cfg, noise=noise, edges=edges)
            optim.zero_grad()
            loss.backward()
            optim.step()

        for _ in range(2):
            step()
        ts = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            step()
            ts.append(time.perf_counter() - t)
        print(f"K={K}: {np.median(ts):.3f} / {np.min(ts):.3f} s per step (median / min)")


if __name__ == "__main__":
    main()
