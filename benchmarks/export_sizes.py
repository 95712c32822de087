"""Export file sizes and times for a 13.7k-vertex body + ~5k-vertex garment.

    DRAPE_CACHE_DIR=.cache .venv/bin/python benchmarks/export_sizes.py --frames 60 --out out/export_bench
"""

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--out", default="out/export_bench")
    args = ap.parse_args()

    from drape.body import Body
    from drape.export import export_glb, export_obj_sequence, export_usd
    from drape.export.sample import synthetic_sequence

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    body = Body()
    seq = synthetic_sequence(body, frame_count=args.frames, fps=args.fps, garment_rings=50, garment_segments=100)
    F, Vb, Vg = seq.frame_count, seq.body_verts.shape[1], seq.garment_verts.shape[1]
    print(f"{F} frames at {args.fps:g} fps, body {Vb} verts / {len(seq.body_faces)} faces, "
          f"garment {Vg} verts / {len(seq.garment_faces)} faces")
    rows = []

    def run(name, fn, size_of):
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        size = size_of()
        rows.append((name, size, dt))

    uv = seq.meta["garment_uv"]
    variants = [
        ("glb (4 infl, normals)", dict(garment_uv=uv)),
        ("glb (4 infl, no garment normals)", dict(garment_uv=uv, garment_normals=False)),
        ("glb (8 infl, normals)", dict(garment_uv=uv, max_influences=8)),
    ]
    for i, (name, kw) in enumerate(variants):
        p = out / f"avatar{i}.glb"
        res = {}
        run(name, lambda: res.setdefault("r", export_glb(p, seq, body, **kw)), lambda: p.stat().st_size)
        print(f"  {name}: body skin max error {res['r'].body_skin_max_error * 1000:.3f} mm")
    for suffix in (".usdc", ".usda"):
        p = out / f"avatar{suffix}"
        run(f"usd {suffix}", lambda: export_usd(p, seq, garment_uv=uv), lambda: p.stat().st_size)
    d = out / "obj"
    run("obj sequence", lambda: export_obj_sequence(d, seq, garment_uv=uv),
        lambda: sum(f.stat().st_size for f in d.iterdir()))
    print(f"{'format':36s} {'total MB':>9s} {'kB/frame':>9s} {'s':>6s}")
    for name, size, dt in rows:
        print(f"{name:36s} {size / 1e6:9.2f} {size / F / 1e3:9.1f} {dt:6.2f}")


if __name__ == "__main__":
    main()
