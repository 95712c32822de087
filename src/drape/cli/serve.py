"""``drape serve``: the HTTP API (FastAPI + uvicorn) over the learned pipeline.

Endpoints: ``POST /v1/step`` (one model step, JSON; ``/v1/step.npz`` for numpy files),
``POST /v1/animate`` (starts a job: a clip name or a BVH upload -> avatar.glb),
``GET /v1/jobs/{id}`` (status, progress), ``GET /v1/jobs/{id}/avatar.glb``,
``GET /v1/models``, ``GET /v1/health``; OpenAPI schema at ``/openapi.json``, docs at ``/docs``.

Models: the bundled ones plus ``<id>.npz`` / ``<id>.onnx`` files in ``--models DIR``.
Bound to a loopback address (the default) the server refuses requests whose Host header
names another machine.

Example::

    drape serve --models models --jobs-dir out/jobs --port 8080
    curl -s localhost:8080/v1/health
"""

from __future__ import annotations

import argparse

from drape.types import DrapeError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the HTTP API (model step, animation jobs)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    p.add_argument("--models", default=None, help="folder of extra models (<id>.npz, <id>.onnx)")
    p.add_argument("--jobs-dir", default="out/serve-jobs", help="folder of job inputs and results (default: out/serve-jobs)")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                   help="preferred backend when a model has both .npz and .onnx files (default: torch)")
    p.add_argument("--threads", type=int, default=1, help="inference threads per request and job (default: 1)")
    p.add_argument("--job-workers", type=int, default=1, help="animation jobs run at the same time (default: 1)")
    p.add_argument("--job-mode", choices=("thread", "process"), default="process",
                   help="run jobs in worker processes (default; a crash fails only the job) or threads")
    p.add_argument("--max-upload-mb", type=float, default=5.0, help="largest BVH upload, MiB (default: 5)")
    p.add_argument("--max-frames", type=int, default=3600, help="largest frames per job (default: 3600)")
    p.add_argument("--no-physics", action="store_true", help="refuse init=physics jobs (rest start only)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drape.serve.app import ServeConfig, serve

    if not 0 < args.port < 65536:
        raise DrapeError(f"--port: expected 1..65535, got {args.port}")
    if args.max_upload_mb <= 0:
        raise DrapeError(f"--max-upload-mb: expected a positive number, got {args.max_upload_mb}")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise DrapeError(f"drape serve needs fastapi, uvicorn and python-multipart ({exc.name} is missing): "
                         "pip install fastapi uvicorn python-multipart") from None
    config = ServeConfig(
        jobs_dir=args.jobs_dir, models_dir=args.models, backend=args.backend, threads=args.threads,
        job_workers=args.job_workers, job_mode=args.job_mode, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_frames=args.max_frames, allow_physics_init=not args.no_physics,
    )
    print(f"drape serve: http://{args.host}:{args.port}/docs (jobs in {args.jobs_dir})", flush=True)
    serve(config, host=args.host, port=args.port, log_level=args.log_level)
    return 0
