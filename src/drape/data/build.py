"""Resumable dataset generation: many (garment, motion, body shape) simulations.

Layout of a dataset folder ``DIR``::

    DIR/dataset.json            format "drape.dataset" v1: sim settings and every planned task spec
    DIR/index.jsonl             append-only log, one JSON object per finished attempt
    DIR/seq/<task_id>/sequence.npz   the simulated sequence (drape.sequence format)
    DIR/seq/<task_id>/rest_drape.npy (V, 3) float32: garment draped on the rest-pose body
    DIR/seq/<task_id>/report.json    quality report (same keys as ``drape simulate``)
    DIR/seq/<task_id>/preview.png    a few frames, front and side (optional)

The unit of work is a :class:`TaskSpec`: plain data (picklable, JSON-ready), run
by :func:`run_task` in any process, so a distributed engine could run it too.
Every file is written atomically (temporary file + rename), and only the main
process appends to the index, one flushed line per finished attempt, so a killed
run loses at most the sequences in flight. On restart, tasks whose index record
says done and whose sequence header still reads are skipped; finished files
without an index line (killed between the two writes) are adopted; failed
tasks are retried, up to ``retries`` more times per run, and stay listed as
failed, with their error, until one attempt succeeds.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import io
import json
import os
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from drape.data.sequence import SequenceFormatError, atomic_write_bytes, read_sequence_header, save_sequence
from drape.sim.inputs import TEST_GARMENTS, TEST_MOTIONS, resolve_garment, resolve_motion  # noqa: F401 (re-exported)
from drape.sim.report import quality_report
from drape.types import BodyShape, DrapeError

DATASET_FORMAT = "drape.dataset"
DATASET_VERSION = 1
INDEX_NAME = "index.jsonl"
MANIFEST_NAME = "dataset.json"



__all__ = [
    "TaskSpec",
    "DatasetError",
    "plan_tasks",
    "expand_motions",
    "parse_body_shapes",
    "run_task",
    "quality_report",
    "build_dataset",
    "dataset_status",
    "read_index",
]


class DatasetError(DrapeError):
    """Bad dataset arguments or an inconsistent dataset folder."""


class TaskFailed(DrapeError):
    """A task ran but did not produce a usable sequence (simulation blew up...)."""


# --------------------------------------------------------------------------- task specs


@dataclass(frozen=True)
class TaskSpec:
    """One simulation to run: plain data, picklable and JSON-serialisable."""

    task_id: str
    """Stable unique name; also the output folder name."""
    garment: str
    """Library garment name (or ``tube``)."""
    motion: str
    """Built-in clip name, ``swing``, or a motion file path."""
    body_shape: str = ""
    """``name=value,...`` (``""``: the average body)."""
    frames: int | None = None
    """Motion frames to simulate (None: the whole clip)."""
    vert_count: int | None = None
    """Target garment vertex count (None: the garment's default)."""
    sim_config: dict = field(default_factory=dict)
    """``SimConfig`` fields (``SimConfig.to_dict()``)."""
    out_dir: str = ""
    """Folder receiving sequence.npz, rest_drape.npy, report.json, preview.png."""
    preview_frames: int = 4
    """Frames in preview.png (0: no preview)."""
    loops: int = 1
    """Times a looping clip is repeated (its seam blended)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TaskSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise DatasetError(f"task spec: unknown keys {sorted(unknown)}")
        return cls(**d)

    @property
    def sequence_path(self) -> Path:
        return Path(self.out_dir) / "sequence.npz"

    @property
    def report_path(self) -> Path:
        return Path(self.out_dir) / "report.json"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-") or "x"


def _shape_tag(shape: BodyShape) -> str:
    d = dict(shape.params)
    if not d:
        return "avg"
    return "-".join(f"{k[:2]}{v:.2f}" for k, v in sorted(d.items()))


def _shape_spec(shape: BodyShape) -> str:
    return ",".join(f"{k}={v:g}" for k, v in shape.params)


def parse_body_shapes(text: str | None) -> list[BodyShape]:
    """``"default;gender=0.2,height=0.7"`` -> shapes; ``default``/``avg``/empty items are the average body."""
    items = [s.strip() for s in (text or "default").split(";")]
    shapes = []
    for item in items:
        shape = BodyShape() if item.lower() in ("", "default", "avg", "average") else BodyShape.parse(item)
        if shape not in shapes:
            shapes.append(shape)
    return shapes


MOTION_FILE_SUFFIXES = (".bvh",)


def expand_motions(items: Iterable[str]) -> list[str]:
    """Motion names, files and folders (all ``.bvh`` files inside, sorted) -> list of names/paths."""
    from drape.motion.library import segment_spec, split_segment

    out: list[str] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        base, start = split_segment(item)
        if start is not None:
            # A segment of one clip: SPEC@SECONDS (a folder cannot be cut).
            if Path(base).expanduser().is_dir():
                raise DatasetError(f"motion {item!r}: a segment start needs one clip, not the folder {base}")
            out.append(segment_spec(expand_motions([base])[0], start))
            continue
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MOTION_FILE_SUFFIXES)
            if not files:
                raise DatasetError(f"motion folder {path}: no {'/'.join(MOTION_FILE_SUFFIXES)} files in it")
            out += [str(p.resolve()) for p in files]
        elif path.suffix.lower() in (".bvh", ".txt", ".json") or os.sep in item:
            if not path.is_file():
                raise DatasetError(f"motion file {path} not found")
            out.append(str(path.resolve()))
        else:
            out.append(item)
    return list(dict.fromkeys(out))


def _motion_stem(spec: str) -> str:
    """A motion's part of a task id: clip name or file stem, ``-at<start>s`` for a segment."""
    from drape.motion.library import split_segment

    base, start = split_segment(spec)
    stem = Path(base).stem if Path(base).suffix else base
    return stem if start is None else f"{stem}-at{start:g}s"


def plan_tasks(
    out_dir: str | os.PathLike,
    garments: Iterable[str],
    motions: Iterable[str],
    body_shapes: Iterable[BodyShape],
    *,
    frames: int | None = None,
    vert_count: int | None = None,
    sim_config: dict | None = None,
    preview_frames: int = 4,
) -> list[TaskSpec]:
    """Every (garment, motion, shape) combination as a TaskSpec writing under ``out_dir/seq``.

    Motion files are named by their stem; two different files with one stem get
    a short hash of their path appended.
    """
    out_dir = Path(out_dir).resolve()
    motions = list(motions)
    stems: dict[str, list[str]] = {}
    for m in motions:
        stems.setdefault(_motion_stem(m), []).append(m)
    tasks = []
    garments = list(garments)
    # Motion-major order: a partly built dataset covers every garment evenly.
    for m in motions:
        for g in garments:
            stem = _motion_stem(m)
            if len(stems[stem]) > 1:
                stem += "-" + hashlib.sha1(m.encode()).hexdigest()[:6]
            for shape in body_shapes:
                parts = [g, stem, _shape_tag(shape)]
                if vert_count:
                    parts.append(f"v{vert_count}")
                if frames:
                    parts.append(f"f{frames}")
                task_id = "__".join(_slug(p) for p in parts)
                tasks.append(
                    TaskSpec(
                        task_id=task_id,
                        garment=g,
                        motion=m,
                        body_shape=_shape_spec(shape),
                        frames=frames,
                        vert_count=vert_count,
                        sim_config=dict(sim_config or {}),
                        out_dir=str(out_dir / "seq" / task_id),
                        preview_frames=preview_frames,
                    )
                )
    ids = [t.task_id for t in tasks]
    if len(set(ids)) != len(ids):
        raise DatasetError("duplicate tasks in the plan (the same garment, motion and shape given twice?)")
    return tasks


# --------------------------------------------------------------------------- running one task


def _atomic_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


DRAPE_CACHE_VERSION = 1


def cached_rest_drape(garment_spec: str, garment, shape: BodyShape, config) -> np.ndarray:
    """(V, 3) float32: the garment settled on the rest-pose body, cached under the drape cache dir.

    garment_spec: the library name or garment file the garment was made from.

    Keyed by the garment spec (and the file's size and mtime for garment files), vertex count,
    body shape and every simulation setting, so a changed input never reuses a stale drape.
    """
    from drape.cache import cache_dir
    from drape.sim.simulate import drape_garment

    source = str(garment_spec)
    path = Path(source)
    if path.is_file():
        st = path.stat()
        source = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    key = json.dumps(
        {"v": DRAPE_CACHE_VERSION, "garment": source, "verts": garment.vert_count, "shape": shape.to_dict(),
         "config": config.to_dict()},
        sort_keys=True,
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    file = cache_dir() / "drapes" / f"{_slug(garment.name)}-{digest}.npy"
    if file.is_file():
        try:
            drape = np.load(file)
            if drape.shape == (garment.vert_count, 3) and np.isfinite(drape).all():
                return drape.astype(np.float32)
        except (OSError, ValueError):
            pass
    drape = drape_garment(garment, shape, config=config).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, drape)
    atomic_write_bytes(file, buf.getvalue())
    return drape


def run_task(spec: TaskSpec | dict, *, progress: bool = False, keep_partial: bool = False) -> dict:
    """Simulate one task and write its files; returns ``{"task_id", "report"}``.

    Raises on failure (bad input, simulation blow-up); nothing partial is left
    under the task's names (files are renamed into place only when complete;
    ``report.json`` is written last). With ``keep_partial`` (``drape simulate``),
    the frames simulated before a blow-up are written, with ``nan: true`` and the
    error in the report, before :class:`TaskFailed` is raised.
    """
    if isinstance(spec, dict):
        spec = TaskSpec.from_dict(spec)
    from drape.cache import configure

    configure()
    from drape.sim.config import SimConfig
    from drape.sim.simulate import SimulationError, simulate

    t0 = time.perf_counter()
    out = Path(spec.out_dir)
    if out.is_dir():  # temporary files of a killed earlier attempt
        for stale in out.glob(".*.tmp-*"):
            stale.unlink(missing_ok=True)
    config = SimConfig(**spec.sim_config)
    shape = BodyShape.parse(spec.body_shape)
    garment = resolve_garment(spec.garment, body_shape=shape, vert_count=spec.vert_count)
    motion = resolve_motion(spec.motion, fps=config.fps, frames=spec.frames, loops=spec.loops)
    frames = min(spec.frames, motion.frame_count) if spec.frames else None
    t_setup = time.perf_counter() - t0
    # The rest-pose drape depends only on garment, shape and settings: settle once, reuse it.
    start = cached_rest_drape(spec.garment, garment, shape, config)
    sim_garment = dataclasses.replace(garment, verts=start)
    sim_config = dataclasses.replace(config, settle_frames=0)
    error = None
    try:
        result = simulate(sim_garment, motion, body_shape=shape, frames=frames, config=sim_config, progress=progress)
    except SimulationError as exc:
        done = 0 if exc.partial is None else exc.partial.sequence.frame_count
        error = TaskFailed(f"simulation failed after {done} frames: {exc}")
        if not (keep_partial and done):
            raise error from exc
        result = exc.partial
    seq = result.sequence
    meta = dict(seq.meta)
    meta.update({"task_id": spec.task_id, "task": spec.to_dict()})
    seq = dataclasses.replace(seq, meta=meta)

    t1 = time.perf_counter()
    report = {
        "task_id": spec.task_id,
        "frames": seq.frame_count,
        "garment": garment.name,
        "garment_vert_count": garment.vert_count,
        "motion": motion.name,
        "motion_source": spec.motion,
        "sec_per_frame": float(result.sec_per_frame),
        "settle_sec": float(result.settle_sec),
        "setup_sec": t_setup,
        "config": config.to_dict(),
        "body_shape": shape.to_dict(),
        "error": None if error is None else str(error),
    }
    report.update(quality_report(seq, garment.panel_uv))
    report["report_sec"] = time.perf_counter() - t1
    if report["nan"] and error is None:
        error = TaskFailed("simulated garment contains NaN")
        if not keep_partial:
            raise error
    report["nan"] = bool(report["nan"] or error is not None)

    out.mkdir(parents=True, exist_ok=True)
    save_sequence(out / "sequence.npz", seq)
    buf = io.BytesIO()
    np.save(buf, np.asarray(result.rest_drape, np.float32))
    atomic_write_bytes(out / "rest_drape.npy", buf.getvalue())
    if spec.preview_frames > 0:
        try:
            from drape.geometry.render import render_preview

            F = seq.frame_count
            idx = sorted(set(np.linspace(0, F - 1, min(spec.preview_frames, F)).round().astype(int).tolist()))
            tmp = out / f".preview.tmp-{os.getpid()}.png"
            render_preview(tmp, seq.body_verts[idx], seq.body_faces, seq.garment_verts[idx], seq.garment_faces,
                           titles=[f"frame {i}" for i in idx])
            os.replace(tmp, out / "preview.png")
            report["preview"] = "preview.png"
        except Exception as exc:  # a preview must never cost the sequence
            report["preview_error"] = f"{type(exc).__name__}: {exc}"
    report["sequence_file"] = "sequence.npz"
    report["wall_sec"] = time.perf_counter() - t0
    _atomic_json(out / "report.json", report)
    if error is not None:
        raise error
    return {"task_id": spec.task_id, "report": report}


def _worker_init() -> None:
    """Process-pool initializer: set up caches and load anny (both topologies) once per worker."""
    from drape.cache import configure

    configure()
    try:
        from drape.body.model import FULL_TOPOLOGY, PROXY_TOPOLOGY, load_anny

        load_anny(topology=FULL_TOPOLOGY)
        load_anny(topology=PROXY_TOPOLOGY)
    except Exception:  # the task itself will report a real problem
        pass


# --------------------------------------------------------------------------- index and manifest


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def read_index(out_dir: str | os.PathLike) -> list[dict]:
    """All records of ``DIR/index.jsonl`` in order; a torn (half-written) line is skipped."""
    path = Path(out_dir) / INDEX_NAME
    if not path.exists():
        return []
    records = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a run killed mid-write leaves at most one torn line
        if isinstance(rec, dict) and "task_id" in rec and "status" in rec:
            records.append(rec)
    return records


def _append_index(out_dir: Path, record: dict) -> None:
    path = out_dir / INDEX_NAME
    line = json.dumps(record, sort_keys=True, default=str)
    with open(path, "a+b") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":  # finish a torn line left by a killed run
                fh.write(b"\n")
        fh.write(line.encode() + b"\n")
        fh.flush()
        os.fsync(fh.fileno())


def _read_manifest(out_dir: Path) -> dict | None:
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(m, dict) or m.get("format") != DATASET_FORMAT:
        raise DatasetError(f"{path}: expected format {DATASET_FORMAT!r}, got {m.get('format') if isinstance(m, dict) else m!r}")
    if m.get("version") != DATASET_VERSION:
        raise DatasetError(f"{path}: {DATASET_FORMAT} version {m.get('version')} is not supported (expected {DATASET_VERSION})")
    return m


def _write_manifest(out_dir: Path, tasks: list[TaskSpec], *, sim_config: dict, extra: dict | None = None) -> None:
    old = _read_manifest(out_dir)
    merged: dict[str, dict] = {}
    if old:
        for t in old.get("tasks", []):
            merged[t["task_id"]] = t
    for t in tasks:
        merged[t.task_id] = t.to_dict()
    manifest = {
        "format": DATASET_FORMAT,
        "version": DATASET_VERSION,
        "created": (old or {}).get("created", _now()),
        "updated": _now(),
        "sim_config": sim_config,
        "tasks": list(merged.values()),
    }
    if extra:
        manifest.update(extra)
    _atomic_json(out_dir / MANIFEST_NAME, manifest)


def _rel(out: Path, p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(out.resolve()))
    except ValueError:
        return str(p)


def _sequence_ok(spec: TaskSpec) -> bool:
    try:
        header = read_sequence_header(spec.sequence_path)
    except SequenceFormatError:
        return False
    return header["frames"] > 0


# --------------------------------------------------------------------------- the builder


@dataclass
class BuildSummary:
    total: int = 0
    skipped: int = 0
    """Done before this run."""
    recovered: int = 0
    """Found complete on disk without an index line (adopted)."""
    done: int = 0
    """Completed in this run."""
    failed: list = field(default_factory=list)
    """task ids still failing after all retries."""
    attempts: int = 0
    wall_sec: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def build_dataset(
    out_dir: str | os.PathLike,
    tasks: list[TaskSpec],
    *,
    workers: int = 2,
    retries: int = 2,
    task_fn: Callable[[TaskSpec], dict] = run_task,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    extra_manifest: dict | None = None,
    preload: bool | None = None,
) -> BuildSummary:
    """Run every task not yet done, in parallel, resumably.

    Args:
        out_dir: dataset folder (created).
        tasks: from :func:`plan_tasks`; they must all share one ``sim_config``.
        workers: processes (spawn); 0 runs tasks in this process (tests, debugging).
        retries: extra attempts per failing task in this run.
        task_fn: the task runner (``run_task``; tests inject a cheap stand-in,
            which must be picklable when ``workers > 0``).
        progress: tqdm bar over tasks, with ETA.
        log: where one-line messages go (None: silent).
        extra_manifest: more keys for dataset.json (e.g. the command line).
        preload: load anny once in each worker before its first task (default:
            when ``task_fn`` is :func:`run_task`).

    Returns:
        :class:`BuildSummary`. Failures are recorded in the index and listed in
        ``summary.failed``; they are never dropped silently.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _msg: None)
    configs = {json.dumps(t.sim_config, sort_keys=True) for t in tasks}
    if len(configs) > 1:
        raise DatasetError("all tasks of one dataset must share the same sim settings")
    sim_config = tasks[0].sim_config if tasks else {}
    old = _read_manifest(out)
    if old is not None and tasks and old.get("sim_config") != sim_config:
        diff = sorted(k for k in set(old.get("sim_config", {})) | set(sim_config)
                      if old.get("sim_config", {}).get(k) != sim_config.get(k))
        raise DatasetError(
            f"{out / MANIFEST_NAME}: this dataset was built with other simulation settings "
            f"(differing: {', '.join(diff)}); use another --out folder"
        )
    _write_manifest(out, tasks, sim_config=sim_config, extra=extra_manifest)

    records = read_index(out)
    attempts_before: dict[str, int] = {}
    done_before: set[str] = set()
    for rec in records:
        attempts_before[rec["task_id"]] = attempts_before.get(rec["task_id"], 0) + 1
        if rec["status"] == "done":
            done_before.add(rec["task_id"])

    summary = BuildSummary(total=len(tasks))
    pending: list[TaskSpec] = []
    for spec in tasks:
        if spec.task_id in done_before and _sequence_ok(spec):
            summary.skipped += 1
        elif _sequence_ok(spec) and spec.report_path.is_file():
            try:
                report = json.loads(spec.report_path.read_text())
            except (OSError, json.JSONDecodeError):
                report = None
            if isinstance(report, dict) and report.get("task_id") == spec.task_id:
                _append_index(out, {"task_id": spec.task_id, "status": "done",
                                    "attempt": attempts_before.get(spec.task_id, 0), "time": _now(),
                                    "recovered": True, "report": report, "sequence": _rel(out, spec.sequence_path)})
                summary.recovered += 1
            else:
                pending.append(spec)
        else:
            pending.append(spec)
    say(f"dataset {out}: {len(tasks)} tasks, {summary.skipped + summary.recovered} already done, {len(pending)} to run")
    if not pending:
        return summary

    attempt_no = dict(attempts_before)
    tries_this_run: dict[str, int] = {}
    t_start = time.perf_counter()

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), initial=summary.skipped + summary.recovered, unit="seq", desc="dataset",
                   dynamic_ncols=True)

    def finished(spec: TaskSpec, result: dict | None, exc: BaseException | None) -> bool:
        """Record one attempt; True when the task should be retried."""
        attempt_no[spec.task_id] = attempt_no.get(spec.task_id, 0) + 1
        tries_this_run[spec.task_id] = tries_this_run.get(spec.task_id, 0) + 1
        summary.attempts += 1
        if exc is None:
            rec = {"task_id": spec.task_id, "status": "done", "attempt": attempt_no[spec.task_id], "time": _now(),
                   "report": (result or {}).get("report", {}), "sequence": _rel(out, spec.sequence_path)}
            _append_index(out, rec)
            summary.done += 1
            if bar is not None:
                bar.update(1)
            return False
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        cause = exc.__cause__
        if cause is not None and type(cause).__name__ == "_RemoteTraceback":
            tb = str(cause) + "\n" + tb
        rec = {"task_id": spec.task_id, "status": "failed", "attempt": attempt_no[spec.task_id], "time": _now(),
               "error": f"{type(exc).__name__}: {exc}", "traceback": tb[-4000:]}
        _append_index(out, rec)
        retry = tries_this_run[spec.task_id] <= retries
        say(f"task {spec.task_id} failed (attempt {attempt_no[spec.task_id]}): {type(exc).__name__}: {exc}"
            + ("; retrying" if retry else "; giving up for this run"))
        if not retry:
            summary.failed.append(spec.task_id)
            if bar is not None:
                bar.update(1)
        return retry

    def postfix() -> None:
        if bar is not None:
            bar.set_postfix(failed=len(summary.failed), refresh=False)

    try:
        if workers <= 0:
            queue = list(pending)
            while queue:
                spec = queue.pop(0)
                try:
                    result, exc = task_fn(spec), None
                except Exception as e:  # noqa: BLE001  (BaseException, e.g. KeyboardInterrupt, stops the run)
                    result, exc = None, e
                if finished(spec, result, exc):
                    queue.append(spec)
                postfix()
        else:
            if preload is None:
                preload = task_fn is run_task
            _run_pool(pending, workers=workers, task_fn=task_fn, finished=finished, postfix=postfix, say=say,
                      initializer=_worker_init if preload else None, on_done=lambda: bar and bar.close())
    finally:
        if bar is not None:
            bar.close()
        summary.wall_sec = time.perf_counter() - t_start
    return summary


def _run_pool(pending, *, workers, task_fn, finished, postfix, say, initializer, on_done) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    queue = list(pending)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer)
    running: dict = {}
    restore = _raise_on_sigterm()
    try:
        while queue or running:
            # Keep only `workers` tasks in flight: a killed run loses at most those.
            while queue and len(running) < workers:
                spec = queue.pop(0)
                running[pool.submit(task_fn, spec)] = spec
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                spec = running.pop(fut)
                try:
                    result, exc = fut.result(), None
                except BrokenProcessPool as e:
                    result, exc = None, RuntimeError(f"worker process died ({e})")
                    broken = True
                except Exception as e:  # noqa: BLE001
                    result, exc = None, e
                if finished(spec, result, exc):
                    queue.append(spec)
                postfix()
            if broken:
                # The pool is unusable: requeue what was in flight (recorded as failed attempts) and restart it.
                for fut, spec in list(running.items()):
                    if finished(spec, None, RuntimeError("worker process died")):
                        queue.append(spec)
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                say("a worker process died; restarting the pool")
                pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer)
    except BaseException:
        _stop_pool(pool)
        raise
    finally:
        restore()
    on_done()  # all results are recorded; worker processes may take a few seconds to exit
    pool.shutdown(wait=True)


def _stop_pool(pool) -> None:
    """Cancel queued tasks and end the worker processes now (a stopped build must not leave them simulating)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # the executor's only handle on its workers
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5)


def _raise_on_sigterm():
    """Turn SIGTERM into SystemExit (so the pool is stopped like on Ctrl-C); returns the undo function."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------- status


def dataset_status(out_dir: str | os.PathLike) -> dict:
    """Done / failed / pending tasks of a dataset folder.

    Returns:
        ``{"dir", "total", "done", "failed", "pending", "tasks": {task_id: {"status", "attempts",
        "error", "report"}}, "frames", "sim_sec"}``; ``done`` counts only tasks whose
        sequence file still reads.
    """
    out = Path(out_dir)
    manifest = _read_manifest(out)
    if manifest is None:
        raise DatasetError(f"{out}: not a dataset folder (no {MANIFEST_NAME})")
    specs = {t["task_id"]: TaskSpec.from_dict(t) for t in manifest.get("tasks", [])}
    state: dict[str, dict] = {tid: {"status": "pending", "attempts": 0, "error": None, "report": None} for tid in specs}
    for rec in read_index(out):
        s = state.setdefault(rec["task_id"], {"status": "pending", "attempts": 0, "error": None, "report": None})
        s["attempts"] += 0 if rec.get("recovered") else 1
        if rec["status"] == "done":
            s["status"], s["report"], s["error"] = "done", rec.get("report"), None
        elif s["status"] != "done":
            s["status"], s["error"] = "failed", rec.get("error")
    for tid, s in state.items():
        if s["status"] == "done" and tid in specs and not _sequence_ok(specs[tid]):
            s["status"], s["error"] = "pending", "sequence file missing or unreadable"
    counts = {k: sum(1 for s in state.values() if s["status"] == k) for k in ("done", "failed", "pending")}
    reports = [s["report"] or {} for s in state.values() if s["status"] == "done"]
    frames = sum(int(r.get("frames") or 0) for r in reports)
    sim_sec = sum(float(r.get("sec_per_frame") or 0) * int(r.get("frames") or 0) for r in reports)
    return {"dir": str(out), "total": len(state), **counts, "tasks": state, "frames": frames, "sim_sec": sim_sec}
