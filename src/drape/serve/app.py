"""HTTP API over the learned pipeline (FastAPI + uvicorn): one model step, and animation jobs.

Endpoints (OpenAPI schema at ``/openapi.json``, interactive docs at ``/docs``):

``POST /v1/step``
    JSON :class:`StepRequest` -> :class:`StepResponse`. Stateless: one model step from the
    client's garment history (``(i+1, V, 3)`` metres, world frame) and the skeleton of the
    history frames plus the target frame, as ``bone_transforms`` ``(i+2, J, 4, 4)`` or as
    ``world_rotations`` ``(i+2, J, 3, 3)`` + ``root_translation`` ``(i+2, 3)`` posed here on the
    model's body. Returns the target frame's ``verts`` and ``velocities`` (m/s).
``POST /v1/step.npz?model=ID``
    The same with an ``.npz`` body (arrays ``history`` and ``bone_transforms``, float32, no pickle)
    answered with an ``.npz`` of ``verts`` and ``velocities``: no JSON number formatting.
``POST /v1/animate``
    JSON :class:`AnimateRequest`, or ``multipart/form-data`` with the same fields and a ``bvh``
    file (at most ``max_upload_bytes``; larger: 413). Answers 202 :class:`JobAccepted`.
``GET /v1/jobs/{id}``
    :class:`JobStatus`: queued / running / done / failed, progress 0-1, error, result links.
``GET /v1/jobs/{id}/avatar.glb`` (also ``preview.gif``, ``report.json``)
    A result file; 404 until the job is done.
``GET /v1/models``, ``GET /v1/health``.

Errors are JSON ``{"detail": message}``: 400 malformed request or job id, 404 unknown model or
job, 413 body too large, 422 wrong shapes, NaN, unknown garment or motion, malformed BVH, 503
job queue full.

Jobs run in a background pool (``job_workers`` at a time; threads, or spawned processes with
``job_mode="process"``) independent of the client's connection. Each job has a folder
``<jobs_dir>/<id>/`` (``id``: a server-made UUID4 hex; any other id is refused before the file
system is touched) holding ``request.json``, the uploaded ``motion.bvh``, ``status.json``
(rewritten atomically by the worker) and ``result/`` (written under a temporary name and
renamed when complete). Jobs left queued or running by a stopped server are marked failed on
the next start.

fastapi, uvicorn and pydantic are imported only inside :func:`create_app` / :func:`serve`.
"""

import io
import json
import os
import re
import shutil
import threading
import time
import traceback
import uuid
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from drape.types import BodyShape, DrapeError

JOB_FORMAT = "drape-serve-job"
JOB_VERSION = 1
JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")
MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RESULT_FILES = {"avatar.glb": "model/gltf-binary", "preview.gif": "image/gif", "report.json": "application/json"}
JOB_STATES = ("queued", "running", "done", "failed")
MiB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    """Settings of ``drape serve``."""

    jobs_dir: str = "out/serve-jobs"
    """Folder of job inputs, status and results (created)."""
    models_dir: str | None = None
    """Extra models: ``<id>.npz`` (torch) and ``<id>.onnx`` files; bundled models are always known."""
    backend: str = "torch"
    """Preferred backend when a model id has both a .npz and an .onnx file."""
    threads: int = 1
    """Torch / onnxruntime threads per inference (set by :func:`serve`)."""
    job_workers: int = 1
    """Animation jobs run at the same time."""
    job_mode: str = "thread"
    """``thread`` (in the server process) or ``process`` (spawned worker processes)."""
    max_upload_bytes: int = 5 * MiB
    """Largest BVH upload for /v1/animate."""
    max_step_bytes: int = 64 * MiB
    """Largest request body for /v1/step."""
    max_frames: int = 3600
    """Largest ``frames`` an animation job may ask for."""
    max_jobs_pending: int = 32
    """Queued + running jobs above which /v1/animate answers 503."""
    allow_physics_init: bool = True
    """Allow ``init="physics"`` jobs (seconds to minutes of simulation each)."""

    def __post_init__(self):
        if self.backend not in ("torch", "onnx"):
            raise DrapeError(f"serve: backend must be torch or onnx, got {self.backend!r}")
        if self.job_mode not in ("thread", "process"):
            raise DrapeError(f"serve: job_mode must be thread or process, got {self.job_mode!r}")
        for name in ("threads", "job_workers", "max_upload_bytes", "max_step_bytes", "max_frames", "max_jobs_pending"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise DrapeError(f"serve: {name} must be a positive integer, got {v!r}")


class ApiError(Exception):
    """An error answered with ``status`` and ``{"detail": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------- models


class ModelRegistry:
    """Model ids -> files (bundled models and ``models_dir``), loaded once and kept."""

    def __init__(self, models_dir: str | os.PathLike | None = None, *, backend: str = "torch", threads: int = 1):
        self.models_dir = Path(models_dir) if models_dir else None
        self.backend = backend
        self.threads = threads
        self._loaded: dict[Path, object] = {}
        self._lock = threading.Lock()
        self._bodies: dict[str, object] = {}

    def files(self) -> dict[str, Path]:
        """{model id: file}; a ``models_dir`` file overrides a bundled model of the same id."""
        from drape.animate import bundled_models

        out = dict(bundled_models())
        if self.models_dir is not None and self.models_dir.is_dir():
            npz = {p.stem: p for p in self.models_dir.glob("*.npz") if p.is_file()}
            onnx = {p.stem: p for p in self.models_dir.glob("*.onnx") if p.is_file()}
            for mid in set(npz) | set(onnx):
                if not MODEL_ID_RE.match(mid):
                    continue
                first, second = (onnx, npz) if self.backend == "onnx" else (npz, onnx)
                out[mid] = first.get(mid) or second[mid]
        return dict(sorted(out.items()))

    def path(self, model_id: str) -> Path:
        if not isinstance(model_id, str) or not MODEL_ID_RE.match(model_id):
            raise ApiError(404, f"unknown model {str(model_id)[:80]!r}: model ids are names like 'tshirt' (letters, digits, _ . -)")
        files = self.files()
        if model_id not in files:
            have = ", ".join(files) or "none"
            raise ApiError(404, f"unknown model {model_id!r}; known models: {have}")
        return files[model_id]

    def get(self, model_id: str):
        """(model, path) for an id; loaded on first use."""
        path = self.path(model_id)
        with self._lock:
            m = self._loaded.get(path)
            if m is None:
                from drape.animate import load_model

                backend = "onnx" if path.suffix == ".onnx" else "torch"
                try:
                    m, _ = load_model(path, backend=backend, threads=self.threads)
                except DrapeError as exc:
                    raise ApiError(500, f"model {model_id!r} could not be loaded: {exc}") from None
                self._loaded[path] = m
        return m, path

    def body(self, shape: BodyShape):
        key = shape.key()
        with self._lock:
            b = self._bodies.get(key)
            if b is None:
                from drape.body import Body

                b = self._bodies[key] = Body(shape)
        return b

    def for_garment(self, garment: str) -> str:
        """The id of the model for a garment: a model named like the garment."""
        files = self.files()
        if garment in files:
            return garment
        have = ", ".join(files) or "none"
        raise ApiError(422, f"no model for garment {garment!r} (known models: {have}); name one in 'model' or add "
                            f"{garment}.npz to the server's --models folder (drape train ... --out {garment}.npz)")


# --------------------------------------------------------------------------- step core (no HTTP)


def _array(value, name: str, shape: tuple, *, where: str = "") -> np.ndarray:
    """float32 array of the expected shape (None entries: any size), finite; ApiError 422 otherwise."""
    try:
        a = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError):
        raise ApiError(422, f"{name}: expected a rectangular array of numbers {_fmt(shape)}, got a ragged or non-numeric list") from None
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        raise ApiError(422, f"{name}: expected shape {_fmt(shape)}, got {tuple(a.shape)}")
    if not np.isfinite(a).all():
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise ApiError(422, f"{name}: {bad} values are NaN or infinite")
    return a


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


def check_body_shape(model, values) -> BodyShape:
    """The model's body shape; ``values`` (dict or None) must name the same body."""
    from drape.animate import resolve_body_shape

    try:
        return resolve_body_shape(model.reference, values)
    except DrapeError as exc:
        raise ApiError(422, str(exc)) from None


def step_arrays(model, history, bone_transforms) -> tuple[np.ndarray, np.ndarray]:
    """One model step on validated arrays: history (i+1, V, 3), bone_transforms (i+2, J, 4, 4).

    Returns (verts (V, 3), velocities (V, 3)) float32 of the target frame.
    """
    from drape.types import GarmentState, SkeletonState

    n = int(model.config.window) + 1
    ref = model.reference
    h = _array(history, "history", (n, ref.vert_count, 3))
    T = _array(bone_transforms, "bone_transforms", (n + 1, ref.bone_count, 4, 4))
    if np.abs(T[..., 3, :] - np.array([0, 0, 0, 1], np.float32)).max() > 1e-4:
        raise ApiError(422, "bone_transforms: the last row of every 4x4 transform must be (0, 0, 0, 1)")
    states = tuple(GarmentState(h[f], np.zeros_like(h[f])) for f in range(n))
    skel = SkeletonState(np.zeros(T.shape[:2] + (3,), np.float32), T[:, :, :3, :3].copy(), T)
    try:
        out = model.step(states, skel)
    except DrapeError as exc:
        raise ApiError(422, str(exc)) from None
    return out.verts, out.velocities


def pose_transforms(registry: ModelRegistry, model, world_rotations, root_translation, body_shape) -> np.ndarray:
    """Bone transforms (i+2, J, 4, 4) of the model's body posed by world rotations and root positions."""
    n = int(model.config.window) + 1
    J = model.reference.bone_count
    R = _array(world_rotations, "world_rotations", (n + 1, J, 3, 3))
    t = _array(root_translation, "root_translation", (n + 1, 3))
    shape = check_body_shape(model, body_shape)
    body = registry.body(shape)
    if tuple(body.bone_names) != tuple(model.reference.bone_names):
        raise ApiError(422, "this model's rig is not the body's rig; send bone_transforms")
    return body.pose(R, t).skeleton.bone_transforms


def read_npz(data: bytes, *, limit: int) -> dict[str, np.ndarray]:
    """Arrays of an uploaded ``.npz`` (no pickle; decompressed size bounded by ``limit``)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            total = sum(i.file_size for i in z.infolist())
        if total > limit:
            raise ApiError(413, f"npz body: arrays hold {total} bytes uncompressed, over the {limit}-byte limit")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ApiError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ApiError(400, f"body: expected an .npz file (numpy.savez, no pickled objects): {exc}") from None


def write_npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# --------------------------------------------------------------------------- jobs


def _now() -> float:
    return round(time.time(), 3)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def read_status(job_dir: Path) -> dict | None:
    try:
        data = json.loads((job_dir / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if data.get("format") != JOB_FORMAT:
        return None
    return data


def _update_status(job_dir: Path, **changes) -> dict:
    st = read_status(job_dir) or {"format": JOB_FORMAT, "version": JOB_VERSION, "job_id": job_dir.name}
    st.update(changes)
    _write_json(job_dir / "status.json", st)
    return st


def run_job(job_dir: str) -> str:
    """Run the animation job in ``job_dir`` (worker side); returns its final state. Never raises for job errors."""
    from drape.animate import animate

    d = Path(job_dir)
    req = json.loads((d / "request.json").read_text())
    _update_status(d, state="running", progress=0.0, stage="load", started=_now())
    last = [0.0, ""]

    def on_progress(stage: str, frac: float) -> None:
        now = time.monotonic()
        if stage != last[1] or now - last[0] > 0.25:
            last[0], last[1] = now, stage
            _update_status(d, progress=round(float(frac), 4), stage=stage)

    tmp = d / f".result-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        res = animate(
            garment=req["garment"], motion=req["motion_path"] or req["motion"], model=req["model_path"],
            body_shape=req.get("body_shape"), frames=req.get("frames"), init=req["init"], backend=req["backend"],
            threads=int(req.get("threads", 1)), out_dir=tmp, on_progress=on_progress,
        )
        final = d / "result"
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _update_status(d, state="done", progress=1.0, stage="done", finished=_now(), error=None, report=res.report)
        return "done"
    except DrapeError as exc:
        _update_status(d, state="failed", stage="failed", finished=_now(), error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a job failure is reported, not raised
        (d / "traceback.txt").write_text(traceback.format_exc())
        _update_status(d, state="failed", stage="failed", finished=_now(), error=f"internal error: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return "failed"


class JobManager:
    """Queues animation jobs onto a thread or process pool; job state lives in each job's ``status.json``."""

    def __init__(self, jobs_dir: str | os.PathLike, *, workers: int = 1, mode: str = "thread"):
        self.root = Path(jobs_dir).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.mode = mode
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._pool = None
        self._recover()

    def _recover(self) -> None:
        for d in self.root.iterdir():
            if not (d.is_dir() and JOB_ID_RE.match(d.name)):
                continue
            for tmp in d.glob(".result-tmp-*"):
                shutil.rmtree(tmp, ignore_errors=True)
            st = read_status(d)
            if st and st.get("state") in ("queued", "running"):
                _update_status(d, state="failed", stage="failed", finished=_now(),
                               error="the server stopped before the job finished; submit it again")

    def _executor(self):
        if self._pool is None:
            if self.mode == "process":
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
            else:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="drape-job")
        return self._pool

    def job_dir(self, job_id: str) -> Path:
        """The folder of a well-formed job id (ApiError 400 for anything else, 404 when unknown)."""
        if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
            raise ApiError(400, "invalid job id: expected the 32 hex digits returned by POST /v1/animate")
        d = self.root / job_id
        if not d.is_dir():
            raise ApiError(404, f"no job {job_id}")
        return d

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def counts(self) -> dict[str, int]:
        out = {"queued": 0, "running": 0}
        with self._lock:
            ids = list(self._pending)
        for jid in ids:
            st = read_status(self.root / jid) or {}
            if st.get("state") in out:
                out[st["state"]] += 1
        return out

    def create(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        d = self.root / job_id
        d.mkdir()
        return job_id, d

    def submit(self, job_id: str, d: Path, request: dict) -> None:
        _write_json(d / "request.json", request)
        _update_status(d, state="queued", progress=0.0, stage="queued", created=_now(), error=None)
        with self._lock:
            self._pending.add(job_id)
            try:
                fut = self._executor().submit(run_job, str(d))
            except Exception as exc:  # noqa: BLE001 - a broken pool is replaced
                self._pool = None
                fut = self._executor().submit(run_job, str(d))
                del exc
        fut.add_done_callback(lambda f, jid=job_id, jd=d: self._finished(jid, jd, f))

    def _finished(self, job_id: str, d: Path, fut) -> None:
        with self._lock:
            self._pending.discard(job_id)
        exc = fut.exception()
        if exc is not None:
            st = read_status(d) or {}
            if st.get("state") not in ("done", "failed"):
                _update_status(d, state="failed", stage="failed", finished=_now(),
                               error=f"the job's worker stopped: {type(exc).__name__}: {exc}")
            from concurrent.futures.process import BrokenProcessPool

            if isinstance(exc, BrokenProcessPool):
                with self._lock:
                    self._pool = None

    def shutdown(self, *, wait: bool = True) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=not wait)


# --------------------------------------------------------------------------- request validation


@lru_cache(maxsize=1)
def _clip_names() -> tuple[str, ...]:
    from drape.motion.deepmimic import clip_files
    from drape.sim.inputs import TEST_MOTIONS

    return tuple(sorted(clip_files())) + tuple(TEST_MOTIONS)


@lru_cache(maxsize=1)
def _garment_names() -> tuple[str, ...]:
    from drape.garment import garment_library
    from drape.sim.inputs import TEST_GARMENTS

    return tuple(e[0] for e in garment_library()) + tuple(TEST_GARMENTS)


def check_bvh(data: bytes, *, fps: float, limit: int) -> None:
    """Validate an uploaded BVH: size, text, syntax and retargeting (ApiError 413 / 422)."""
    if len(data) > limit:
        raise ApiError(413, f"bvh: {len(data)} bytes, over the {limit}-byte upload limit")
    if not data.strip():
        raise ApiError(422, "bvh: the uploaded file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(422, f"bvh: not UTF-8 text (byte {exc.start})") from None
    from drape.motion import parse_bvh

    try:
        parse_bvh(text, name="upload.bvh")
    except DrapeError as exc:
        raise ApiError(422, f"bvh: {exc}") from None


def _validation_message(exc) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ())) or "body"
        parts.append(f"{loc}: {e.get('msg')}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _api_models():
    """The pydantic request/response models (pydantic imported lazily)."""
    return _build_api_models()


@lru_cache(maxsize=1)
def _build_api_models():
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field

    Vec3List = list[list[float]]

    class StepRequest(BaseModel):
        """One model step. Give the skeleton as ``bone_transforms``, or as ``world_rotations`` +
        ``root_translation`` (posed here on the model's body)."""

        model_config = ConfigDict(extra="forbid")
        model: str = Field(..., max_length=128, description="model id (bundled name or a file in the server's models folder)")
        history: list[Vec3List] = Field(..., description="(i+1, V, 3) garment vertices of frames t-i..t, metres, world frame")
        bone_transforms: list[list[list[list[float]]]] | None = Field(
            None, description="(i+2, J, 4, 4) LBS bone transforms (rest frame -> world) of frames t-i..t+1")
        world_rotations: list[list[list[list[float]]]] | None = Field(
            None, description="(i+2, J, 3, 3) world bone rotations relative to the rest pose, frames t-i..t+1")
        root_translation: Vec3List | None = Field(
            None, description="(i+2, 3) metres: root bone head positions (as posed by drape's body), frames t-i..t+1")
        body_shape: dict[str, float] | None = Field(
            None, description="anny phenotype values in [0, 1]; must be the model's body (default)")

    class StepResponse(BaseModel):
        verts: Vec3List = Field(..., description="(V, 3) garment vertices at frame t+1, metres, world frame")
        velocities: Vec3List = Field(..., description="(V, 3) m/s, (verts - history[-1]) * fps")
        model: str
        compute_ms: float = Field(..., description="server time of the step (ms)")

    class AnimateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        garment: str = Field(..., max_length=64, description="library garment name (tshirt, skirt, ..., tube)")
        motion: str | None = Field(None, max_length=64, description="built-in clip name; omit when uploading a BVH")
        model: str | None = Field(None, max_length=128, description="model id; default: the model named like the garment")
        body_shape: dict[str, float] | None = Field(None, description="anny phenotype values; must be the model's body")
        frames: int | None = Field(None, ge=1, description="frames to animate (default: the whole clip)")
        init: Literal["physics", "rest"] = Field("physics", description="first frames from the simulator or the rest drape")

    class JobAccepted(BaseModel):
        job_id: str
        status_url: str

    class JobStatus(BaseModel):
        job_id: str
        status: Literal["queued", "running", "done", "failed"]
        progress: float = Field(..., ge=0, le=1)
        stage: str | None = None
        error: str | None = None
        created: float | None = None
        started: float | None = None
        finished: float | None = None
        result: dict[str, str] | None = Field(None, description="file name -> download URL, when done")
        report: dict | None = Field(None, description="the animation report (report.json), when done")

    class ModelInfo(BaseModel):
        id: str
        file: str
        garment: str
        kind: str
        vert_count: int
        bone_count: int
        window: int
        fps: float
        body_shape: dict[str, float]

    class Health(BaseModel):
        status: str
        version: str
        models: list[str]
        jobs: dict[str, int]

    class ErrorBody(BaseModel):
        detail: str | list

    return dict(StepRequest=StepRequest, StepResponse=StepResponse, AnimateRequest=AnimateRequest, JobAccepted=JobAccepted,
                JobStatus=JobStatus, ModelInfo=ModelInfo, Health=Health, ErrorBody=ErrorBody)


# --------------------------------------------------------------------------- ASGI guard


class RequestGuard:
    """ASGI middleware: request body size limits per path (413) and, on loopback, a Host check (403)."""

    def __init__(self, app, *, limits: dict[str, int], default_limit: int, loopback_only: bool):
        self.app = app
        self.limits = limits
        self.default_limit = default_limit
        self.loopback_only = loopback_only

    async def _reply(self, send, status: int, message: str) -> None:
        body = json.dumps({"detail": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.loopback_only:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            if name not in ("127.0.0.1", "localhost", "[::1]", "::1"):
                return await self._reply(send, 403, f"host {host!r} refused: this server only answers loopback names")
        limit = self.limits.get(scope.get("path", ""), self.default_limit)
        length = headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await self._reply(send, 400, "invalid Content-Length")
            if n > limit:
                if n <= 4 * limit + MiB:
                    # Read and drop the body so the client sees the answer instead of a reset connection.
                    more = True
                    while more:
                        msg = await receive()
                        more = msg.get("more_body", False) and msg["type"] == "http.request"
                return await self._reply(send, 413, f"request body of {n} bytes is over the {limit}-byte limit of {scope.get('path')}")
        received = 0

        async def limited_receive():
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, f"request body is over the {limit}-byte limit of {scope.get('path')}")
            return msg

        return await self.app(scope, limited_receive, send)


# --------------------------------------------------------------------------- the app


def create_app(config: ServeConfig = ServeConfig(), *, loopback_only: bool = False):
    """The FastAPI application. ``loopback_only``: refuse Host headers other than loopback names."""
    from fastapi import FastAPI, Query, Request
    from fastapi.responses import FileResponse, JSONResponse, Response
    from pydantic import ValidationError
    from pydantic_core import to_json
    from starlette.concurrency import run_in_threadpool

    import drape

    M = _api_models()
    StepRequest, StepResponse, AnimateRequest = M["StepRequest"], M["StepResponse"], M["AnimateRequest"]
    registry = ModelRegistry(config.models_dir, backend=config.backend, threads=config.threads)
    jobs = JobManager(config.jobs_dir, workers=config.job_workers, mode=config.job_mode)
    err = {"model": M["ErrorBody"]}

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        yield
        jobs.shutdown(wait=False)

    app = FastAPI(title="drape", version=drape.__version__, lifespan=lifespan,
                  description="Learned garment dynamics: one model step, and animation jobs writing GLB avatars.")
    app.state.registry = registry
    app.state.jobs = jobs
    app.state.config = config

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    # ---------------------------------------------------------------- step
    step_body = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/StepRequest"}}}}}

    @app.post("/v1/step", response_model=StepResponse, responses={400: err, 404: err, 413: err, 422: err},
              summary="Predict the next garment frame", openapi_extra=step_body)
    async def step(request: Request):
        # The body is parsed and validated in one pass by pydantic-core (about 4x faster than
        # json.loads followed by validation on a 5k-vertex history); the schema is StepRequest's.
        data = await request.body()

        def work():
            t0 = time.perf_counter()
            try:
                req = StepRequest.model_validate_json(data)
            except ValidationError as exc:
                raise ApiError(422, _validation_message(exc)) from None
            model, _ = registry.get(req.model)
            if req.bone_transforms is not None:
                if req.world_rotations is not None or req.root_translation is not None:
                    raise ApiError(422, "give either bone_transforms or world_rotations + root_translation, not both")
                T = req.bone_transforms
                if req.body_shape is not None:
                    check_body_shape(model, req.body_shape)
            elif req.world_rotations is not None and req.root_translation is not None:
                T = pose_transforms(registry, model, req.world_rotations, req.root_translation, req.body_shape)
            else:
                raise ApiError(422, "missing skeleton: give bone_transforms, or world_rotations and root_translation")
            verts, vel = step_arrays(model, req.history, T)
            return to_json({"verts": verts.tolist(), "velocities": vel.tolist(), "model": req.model,
                            "compute_ms": round(1000.0 * (time.perf_counter() - t0), 3)})

        return Response(await run_in_threadpool(work), media_type="application/json")

    @app.post("/v1/step.npz", responses={200: {"content": {"application/octet-stream": {}}}, 400: err, 404: err, 413: err, 422: err},
              summary="Predict the next garment frame (npz in, npz out)",
              openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {
                  "schema": {"type": "string", "format": "binary",
                             "description": "numpy .npz with history (i+1, V, 3) and bone_transforms (i+2, J, 4, 4)"}}}}})
    async def step_npz(request: Request, model: str = Query(..., max_length=128, description="model id")):
        data = await request.body()

        def work():
            m, _ = registry.get(model)
            arrays = read_npz(data, limit=config.max_step_bytes)
            missing = [k for k in ("history", "bone_transforms") if k not in arrays]
            if missing:
                raise ApiError(422, f"npz body: missing arrays {missing}; it has {sorted(arrays)}")
            return step_arrays(m, arrays["history"], arrays["bone_transforms"])

        verts, vel = await run_in_threadpool(work)
        return Response(write_npz(verts=verts, velocities=vel), media_type="application/octet-stream")

    # ---------------------------------------------------------------- models, health
    @app.get("/v1/models", response_model=list[M["ModelInfo"]], summary="Models this server knows")
    def models():
        out = []
        for mid in registry.files():
            m, path = registry.get(mid)
            ref = m.reference
            out.append({"id": mid, "file": path.name, "garment": str((ref.meta or {}).get("garment") or ref.name),
                        "kind": ref.kind, "vert_count": ref.vert_count, "bone_count": ref.bone_count,
                        "window": int(m.config.window), "fps": float(m.config.fps),
                        "body_shape": check_body_shape(m, None).to_dict()})
        return out

    @app.get("/v1/health", response_model=M["Health"], summary="Liveness, models and job counts")
    def health():
        return {"status": "ok", "version": drape.__version__, "models": list(registry.files()), "jobs": jobs.counts()}

    # ---------------------------------------------------------------- animate jobs
    animate_schema = AnimateRequest.model_json_schema()
    multipart_schema = {
        "type": "object",
        "properties": {
            "garment": {"type": "string"}, "motion": {"type": "string"}, "model": {"type": "string"},
            "body_shape": {"type": "string", "description": "JSON object of phenotype values"},
            "frames": {"type": "integer"}, "init": {"type": "string", "enum": ["physics", "rest"]},
            "bvh": {"type": "string", "format": "binary", "description": f"BVH motion, at most {config.max_upload_bytes} bytes"},
        },
        "required": ["garment"],
    }

    def prepare_job(fields: dict, bvh: bytes | None) -> str:
        try:
            req = AnimateRequest.model_validate(fields)
        except ValidationError as exc:
            raise ApiError(422, _validation_message(exc)) from None
        if req.garment not in _garment_names():
            raise ApiError(422, f"garment {req.garment!r}: unknown; garments: {', '.join(_garment_names())}")
        if bvh is None:
            if not req.motion:
                raise ApiError(422, "motion: give a built-in clip name, or upload a BVH file as multipart field 'bvh'")
            if req.motion not in _clip_names():
                raise ApiError(422, f"motion {req.motion!r}: not a built-in clip; clips: {', '.join(_clip_names())} "
                                    "(upload other motions as a BVH file)")
        if req.frames is not None and req.frames > config.max_frames:
            raise ApiError(422, f"frames: at most {config.max_frames} on this server, got {req.frames}")
        if req.init == "physics" and not config.allow_physics_init:
            raise ApiError(422, "init: this server does not run the simulator; use init='rest'")
        model_id = req.model if req.model is not None else registry.for_garment(req.garment)
        m, path = registry.get(model_id)
        from drape.animate import check_garment_name

        try:
            check_garment_name(m.reference, req.garment, path)
        except DrapeError as exc:
            raise ApiError(422, str(exc)) from None
        check_body_shape(m, req.body_shape)
        n = int(m.config.window) + 1
        if req.frames is not None and req.frames < n + 1:
            raise ApiError(422, f"frames: the model needs at least {n + 1}, got {req.frames}")
        if bvh is not None:
            check_bvh(bvh, fps=float(m.config.fps), limit=config.max_upload_bytes)
        if jobs.pending() >= config.max_jobs_pending:
            raise ApiError(503, f"{jobs.pending()} jobs are queued or running (limit {config.max_jobs_pending}); retry later")
        job_id, d = jobs.create()
        motion_path = None
        try:
            if bvh is not None:
                motion_path = str(d / "motion.bvh")
                tmp = d / ".motion.bvh.tmp"
                tmp.write_bytes(bvh)
                os.replace(tmp, motion_path)
            from drape.animate import prepare_motion

            try:
                mot = prepare_motion(motion_path or req.motion, fps=float(m.config.fps), frames=req.frames)
            except DrapeError as exc:
                raise ApiError(422, f"motion: {exc}") from None
            if mot.frame_count < n + 1:
                raise ApiError(422, f"motion {mot.name}: {mot.frame_count} frames; the model needs at least {n + 1}")
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise
        request = {"garment": req.garment, "motion": req.motion or "upload", "motion_path": motion_path,
                   "model": model_id, "model_path": str(path.resolve()), "backend": "onnx" if path.suffix == ".onnx" else "torch",
                   "body_shape": req.body_shape, "frames": req.frames, "init": req.init, "threads": config.threads}
        jobs.submit(job_id, d, request)
        return job_id

    @app.post("/v1/animate", status_code=202, response_model=M["JobAccepted"],
              responses={400: err, 404: err, 413: err, 422: err, 503: err}, summary="Start an animation job",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": animate_schema},
                  "multipart/form-data": {"schema": multipart_schema}}}})
    async def animate_job(request: Request):
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        bvh = None
        if ctype == "application/json":
            try:
                fields = await request.json()
            except ValueError:
                raise ApiError(400, "body: invalid JSON") from None
            if not isinstance(fields, dict):
                raise ApiError(422, "body: expected a JSON object")
        elif ctype == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=16, max_part_size=64 * 1024)
            fields = {}
            for key, value in form.multi_items():
                if key == "bvh":
                    if isinstance(value, str):
                        raise ApiError(422, "bvh: expected a file upload")
                    bvh = await value.read(config.max_upload_bytes + 1)
                    if len(bvh) > config.max_upload_bytes:
                        raise ApiError(413, f"bvh: over the {config.max_upload_bytes}-byte upload limit")
                elif isinstance(value, str):
                    fields[key] = value
                else:
                    raise ApiError(422, f"{key}: unexpected file upload (only 'bvh' takes a file)")
            if "body_shape" in fields and fields["body_shape"].strip():
                try:
                    fields["body_shape"] = json.loads(fields["body_shape"])
                except json.JSONDecodeError:
                    try:
                        fields["body_shape"] = BodyShape.parse(fields["body_shape"]).to_dict()
                    except DrapeError as exc:
                        raise ApiError(422, f"body_shape: {exc}") from None
            else:
                fields.pop("body_shape", None)
            for key in ("motion", "model", "frames"):
                if key in fields and not fields[key].strip():
                    fields.pop(key)
        else:
            raise ApiError(415, "content type: expected application/json or multipart/form-data")
        job_id = await run_in_threadpool(prepare_job, fields, bvh)
        return JSONResponse({"job_id": job_id, "status_url": f"/v1/jobs/{job_id}"}, status_code=202)

    def status_of(job_id: str) -> dict:
        d = jobs.job_dir(job_id)
        st = read_status(d)
        if st is None:
            raise ApiError(404, f"job {job_id} has no status yet")
        done = st.get("state") == "done"
        result = None
        if done:
            result = {name: f"/v1/jobs/{job_id}/{name}" for name in RESULT_FILES if (d / "result" / name).is_file()}
        return {"job_id": job_id, "status": st.get("state", "failed"), "progress": float(st.get("progress") or 0.0),
                "stage": st.get("stage"), "error": st.get("error"), "created": st.get("created"),
                "started": st.get("started"), "finished": st.get("finished"), "result": result,
                "report": st.get("report") if done else None}

    @app.get("/v1/jobs/{job_id}", response_model=M["JobStatus"], responses={400: err, 404: err}, summary="Job status")
    def job_status(job_id: str):
        return status_of(job_id)

    @app.get("/v1/jobs/{job_id}/{name}", responses={200: {"content": {t: {} for t in set(RESULT_FILES.values())}}, 400: err, 404: err},
             summary="A result file of a finished job (avatar.glb, preview.gif, report.json)")
    def job_file(job_id: str, name: str):
        d = jobs.job_dir(job_id)
        if name not in RESULT_FILES:
            raise ApiError(404, f"no result file {name[:64]!r}; results: {', '.join(RESULT_FILES)}")
        st = read_status(d) or {}
        if st.get("state") != "done":
            raise ApiError(404, f"job {job_id} is {st.get('state', 'unknown')}; {name} exists when it is done")
        path = (d / "result" / name).resolve()
        if path.parent != (d / "result").resolve() or not path.is_file():
            raise ApiError(404, f"job {job_id} has no {name}")
        return FileResponse(path, media_type=RESULT_FILES[name], filename=name)

    def openapi():
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["StepRequest"] = StepRequest.model_json_schema(
                ref_template="#/components/schemas/{model}")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

    limits = {"/v1/step": config.max_step_bytes, "/v1/step.npz": config.max_step_bytes,
              "/v1/animate": config.max_upload_bytes + 64 * 1024}
    app.add_middleware(RequestGuard, limits=limits, default_limit=64 * 1024, loopback_only=loopback_only)
    return app


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def serve(config: ServeConfig = ServeConfig(), *, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info") -> None:
    """Run the API with uvicorn until interrupted (torch threads set to ``config.threads``)."""
    import uvicorn

    try:
        import torch

        torch.set_num_threads(config.threads)
    except ImportError:
        pass
    app = create_app(config, loopback_only=_is_loopback(host))
    uvicorn.run(app, host=host, port=port, log_level=log_level)


__all__ = ["ApiError", "JobManager", "ModelRegistry", "ServeConfig", "create_app", "run_job", "serve", "step_arrays"]
