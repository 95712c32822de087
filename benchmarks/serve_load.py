"""Bounded load test of ``POST /v1/step`` on loopback: N client threads, a fixed number of requests.

Starts ``drape serve`` in a subprocess on a free 127.0.0.1 port (or uses ``--url``, loopback
only) with one model, then N threads (one httpx client each) send steps until ``--requests`` are
done or ``--seconds`` have passed. Reports requests/s, p50/p90/p99/max latency, the error count
and the server's own compute time per step (median ``compute_ms``).

    python benchmarks/serve_load.py                         # tiny tube model (built once into out/bench/)
    python benchmarks/serve_load.py --model models/tshirt.npz --clients 4 --requests 400
    python benchmarks/serve_load.py --synthetic 4920        # untrained 4,920-vertex model at default size
    python benchmarks/serve_load.py --format npz            # binary /v1/step.npz instead of JSON

The payload is the model's reference drape skinned by small rigid motions (the step's cost does
not depend on the pose), the same for every request.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def build_tiny_tube(path: Path) -> Path:
    """The tiny tube model of the tests (4-frame simulated swing, 5 training steps)."""
    if path.is_file():
        return path
    from drape.cli.main import main

    ds = path.parent / "tiny_tube_ds"
    assert main(["dataset", "build", "--garments", "tube", "--motions", "swing", "--frames", "4", "--settle-frames", "2",
                 "--blend-frames", "1", "--vert-count", "400", "--workers", "0", "--preview-frames", "0",
                 "--no-progress", "--out", str(ds)]) == 0
    assert main(["train", "--data", str(ds), "--garment", "tube", "--steps", "5", "--batch-size", "2", "--unroll", "1",
                 "--image-size", "32", "--widths", "16,32", "--film-hidden", "32", "--out", str(path), "--no-progress"]) == 0
    return path


def build_synthetic(path: Path, side: int) -> Path:
    """An untrained model on a synthetic prism garment (6 * side^2 + ... vertices) and a 31-bone rig, default config."""
    import torch

    from drape.model.dynamics import GarmentDynamicsModel, ModelConfig
    from drape.model.features import build_reference
    from drape.model.synthetic import prism_garment

    rng = np.random.default_rng(0)
    J = 31
    names = tuple(["Hips"] + [f"Spine{j}" for j in range(1, J)])
    verts, faces, uv = prism_garment(side, side)
    bverts, bfaces, _ = prism_garment(20, 20, side=0.2, height=0.5)
    bw = rng.dirichlet(np.ones(J) * 0.1, size=len(bverts)).astype(np.float32)
    ref = build_reference(name="synthetic", faces=faces, atlas_uv=uv, rest_drape=verts, bone_names=names,
                          body_rest_verts=bverts, body_faces=bfaces, body_skin_weights=bw, rest_root=np.zeros(3))
    model = GarmentDynamicsModel(ModelConfig(), ref)
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for mod in (model.net.head_b, model.net.film[-1]):
            for p in mod.parameters():
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return model.save(path)


def payload(model_path: Path) -> tuple[str, np.ndarray, np.ndarray, int]:
    """(model id, history (i+1, V, 3), bone_transforms (i+2, J, 4, 4), window) for the model file."""
    with np.load(model_path, allow_pickle=False) as z:
        header = json.loads(str(z["header"]))
        verts = np.asarray(z["ref/verts"], np.float32)
        weights = np.asarray(z["ref/frame_weights"], np.float32)
    window = int(header["config"]["window"])
    J = weights.shape[1]
    n = window + 1
    T = np.tile(np.eye(4, dtype=np.float32), (n + 1, J, 1, 1))
    for f in range(n + 1):
        a = 0.02 * f
        T[f, :, :3, :3] = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]], np.float32)
        T[f, :, :3, 3] = [0.0, -0.03 * f, 0.0]
    hist = np.einsum("fij,vj->fvi", T[:n, 0, :3, :3], verts) + T[:n, 0, None, :3, 3]
    return model_path.stem, hist.astype(np.float32), T, window


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(models_dir: Path, jobs_dir: Path, port: int, threads: int):
    cmd = [sys.executable, "-m", "drape.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port), "--models", str(models_dir),
           "--jobs-dir", str(jobs_dir), "--job-mode", "thread", "--threads", str(threads), "--log-level", "warning"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_healthy(url: str, proc=None, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not become healthy in {timeout:.0f} s")


def run_load(url: str, body: bytes, *, path: str, content_type: str, clients: int, requests: int, seconds: float,
             warmup: int = 3) -> dict:
    import httpx

    lock = threading.Lock()
    latencies: list[float] = []
    compute: list[float] = []
    errors: list[str] = []
    issued = [0]
    stop_at = [float("inf")]

    def worker():
        with httpx.Client(base_url=url, timeout=60.0, headers={"content-type": content_type}) as c:
            for _ in range(warmup):
                c.post(path, content=body)
            barrier.wait()
            while True:
                with lock:
                    if issued[0] >= requests or time.perf_counter() > stop_at[0]:
                        return
                    issued[0] += 1
                t = time.perf_counter()
                try:
                    r = c.post(path, content=body)
                    ok = r.status_code == 200
                    ms = r.json().get("compute_ms") if ok and content_type == "application/json" else None
                    err = None if ok else f"HTTP {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, ms, err = False, None, f"{type(exc).__name__}: {exc}"
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    if ms is not None:
                        compute.append(ms)
                    if err:
                        errors.append(err)

    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = np.asarray(latencies) * 1e3
    q = lambda p: round(float(np.percentile(lat, p)), 2) if len(lat) else None  # noqa: E731
    return {
        "requests": len(latencies), "errors": len(errors), "first_error": errors[0] if errors else None,
        "seconds": round(wall, 2), "requests_per_s": round(len(latencies) / wall, 1) if wall else None,
        "p50_ms": q(50), "p90_ms": q(90), "p99_ms": q(99), "max_ms": round(float(lat.max()), 2) if len(lat) else None,
        "server_compute_ms_p50": round(float(np.median(compute)), 2) if compute else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model file (.npz); default: the tiny tube model (built into out/bench/)")
    ap.add_argument("--synthetic", type=int, default=None, metavar="SIDE",
                    help="use an untrained synthetic prism model with SIDE cells per panel (40: 4,920 vertices)")
    ap.add_argument("--url", default=None, help="an already running server (loopback only); the model must be known to it")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client threads (default: 4)")
    ap.add_argument("--requests", type=int, default=400, help="total requests (default: 400)")
    ap.add_argument("--seconds", type=float, default=60.0, help="stop after this many seconds at most (default: 60)")
    ap.add_argument("--threads", type=int, default=1, help="server inference threads (default: 1)")
    ap.add_argument("--format", choices=("json", "npz"), default="json", help="request format (default: json)")
    ap.add_argument("--json", default=None, help="also write the result to this file")
    args = ap.parse_args()
    if args.clients < 1 or args.requests < 1 or not 0 < args.seconds <= 600:
        raise SystemExit("--clients and --requests must be >= 1, --seconds in (0, 600]")
    os.environ.setdefault("DRAPE_CACHE_DIR", str(REPO / ".cache"))
    bench = REPO / "out" / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    if args.synthetic:
        model_path = build_synthetic(bench / f"synthetic{args.synthetic}.npz", args.synthetic)
    elif args.model:
        model_path = Path(args.model)
    else:
        model_path = build_tiny_tube(bench / "tiny_tube.npz")
    model_id, hist, T, window = payload(model_path)

    if args.format == "json":
        path, ctype = "/v1/step", "application/json"
        body = json.dumps({"model": model_id, "history": hist.tolist(), "bone_transforms": T.tolist()}).encode()
    else:
        path, ctype = f"/v1/step.npz?model={model_id}", "application/octet-stream"
        buf = io.BytesIO()
        np.savez(buf, history=hist, bone_transforms=T)
        body = buf.getvalue()

    proc = None
    tmp = None
    if args.url:
        host = urlparse(args.url).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"--url: this load test only runs against loopback, got host {host!r}")
        url = args.url.rstrip("/")
    else:
        tmp = Path(tempfile.mkdtemp(prefix="drape-serve-load-"))
        (tmp / "models").mkdir()
        shutil.copy(model_path, tmp / "models" / f"{model_id}.npz")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(tmp / "models", tmp / "jobs", port, args.threads)
    try:
        wait_healthy(url, proc)
        res = run_load(url, body, path=path, content_type=ctype, clients=args.clients, requests=args.requests, seconds=args.seconds)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    res = {"model": str(model_path), "vert_count": int(hist.shape[1]), "window": window, "format": args.format,
           "request_bytes": len(body), "clients": args.clients, "server_threads": args.threads, **res}
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
