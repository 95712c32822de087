"""The learned pipeline end to end: motion + body + garment + model -> animated avatar files.

:func:`animate` composes the stages (DESIGN §1):

1. the motion (a built-in clip name, a ``.bvh`` path, ``swing`` or a :class:`~drape.types.Motion`)
   is resampled to the model's frame rate and posed on the body the model was trained for;
2. the model is loaded: a model file (``.npz`` for torch, ``.onnx`` for onnxruntime) or a bundled
   model name (``src/drape/assets/models/<name>.npz``); with ``model=None`` the bundled model of
   the garment's name is used;
3. the first ``i + 1`` garment frames (i = the model's window) come from the physics engine
   (``init="physics"``: the garment is settled and simulated for just those frames, with the
   simulation settings the training data was made with) or from the reference drape skinned to
   those frames (``init="rest"``, no simulator);
4. :func:`drape.rollout.rollout` predicts every later frame;
5. the avatar is written to ``out_dir``: ``avatar.glb`` (skinned body + animated garment),
   ``preview.gif`` (256 px, every 2nd frame), ``report.json``, and optionally ``frames/`` (one OBJ
   per frame).

The model has one garment reference and one body: the garment's mesh must be the model's
(checked face by face when the garment is built for the physics start), and the body shape must
be the one the model was trained on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drape.threads import blas_threads
from drape.types import BodyShape, DrapeError, GarmentState, Motion, Sequence

INIT_MODES = ("physics", "rest")
BACKENDS = ("torch", "onnx")
REPORT_FORMAT = "drape-animate-report"
REPORT_VERSION = 1
MODEL_SUFFIXES = (".npz", ".onnx")

# Fractions of the whole run given to each stage in progress callbacks.
_STAGES = {"load": (0.0, 0.05), "init": (0.05, 0.3), "rollout": (0.3, 0.8), "export": (0.8, 1.0)}


class AnimateError(DrapeError):
    """Bad input to :func:`animate` (unknown model, garment or body not matching the model...)."""


@dataclass(frozen=True)
class AnimateResult:
    """What :func:`animate` wrote and measured."""

    out_dir: Path
    glb: Path
    """``avatar.glb``: skinned body with skeleton animation and the animated garment."""
    report_path: Path
    """``report.json``."""
    report: dict
    """The report's content (see :func:`animate`)."""
    preview: Path | None = None
    """``preview.gif`` or None when not written."""
    obj_dir: Path | None = None
    """``frames/`` (one OBJ per frame) or None."""
    sequence: Sequence | None = field(default=None, repr=False)
    """The avatar: posed body and predicted garment for every frame."""


# --------------------------------------------------------------------------- models


def bundled_models_dir() -> Path:
    """The folder of the bundled pretrained models (``drape/assets/models``)."""
    return Path(__file__).resolve().parent / "assets" / "models"


def bundled_models() -> dict[str, Path]:
    """{name: path} of the bundled models (``<name>.npz`` in :func:`bundled_models_dir`)."""
    folder = bundled_models_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.npz")) if p.is_file()}


def _train_hint(garment: str) -> str:
    return (
        f"train one: drape dataset build --garments {garment} --motions walk,run,dance_a --out datasets/{garment} && "
        f"drape train --data datasets/{garment} --garment {garment} --out models/{garment}.npz, "
        f"then pass --model models/{garment}.npz"
    )


def resolve_model_path(model: str | os.PathLike | None, *, garment: str | None = None) -> Path:
    """The model file named by ``model``: a path to a ``.npz``/``.onnx`` file, or a bundled model name.

    With ``model=None`` the bundled model named like ``garment`` is used. Raises AnimateError naming
    the bundled models and how to train one when nothing matches.
    """
    bundled = bundled_models()
    have = ", ".join(bundled) if bundled else "none yet"
    if model is None:
        if garment is None:
            raise AnimateError("no model given and no garment to pick a bundled model for")
        name = Path(str(garment)).stem if Path(str(garment)).suffix else str(garment)
        if name in bundled:
            return bundled[name]
        raise AnimateError(f"no bundled model for garment {garment!r} (bundled models: {have}); {_train_hint(name)}")
    spec = str(model)
    path = Path(spec)
    if path.suffix.lower() in MODEL_SUFFIXES or os.sep in spec or "/" in spec:
        if not path.is_file():
            raise AnimateError(f"model file {spec} not found")
        return path
    if spec in bundled:
        return bundled[spec]
    if path.is_file():
        return path
    raise AnimateError(
        f"model {spec!r}: not a model file (.npz or .onnx) nor a bundled model (bundled models: {have}); "
        f"{_train_hint(garment or spec)}"
    )


def _onnx_for(npz: Path) -> Path:
    """An ONNX file for a ``.npz`` model: ``<stem>.onnx`` next to it when up to date, else exported into the cache."""
    sibling = npz.with_suffix(".onnx")
    if sibling.is_file() and sibling.stat().st_mtime >= npz.stat().st_mtime:
        return sibling
    from drape.cache import cache_dir

    digest = hashlib.sha1(npz.read_bytes()).hexdigest()[:16]
    out = cache_dir() / "onnx" / f"{npz.stem}-{digest}.onnx"
    if not out.is_file():
        from drape.export.onnx import export_onnx

        export_onnx(npz, out)
    return out


def load_model(model: str | os.PathLike | None = None, *, garment: str | None = None, backend: str = "torch", threads: int = 1):
    """Load a garment-dynamics model for inference.

    model: a model file or a bundled model name (see :func:`resolve_model_path`). backend: ``torch``
    (:class:`~drape.model.dynamics.GarmentDynamicsModel`, needs the ``.npz``) or ``onnx``
    (:class:`~drape.model.onnx_backend.OnnxGarmentDynamics`; a ``.npz`` is exported to ONNX once and
    cached under the drape cache). threads: onnxruntime intra-op threads. Returns (model, path).
    """
    if backend not in BACKENDS:
        raise AnimateError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    path = resolve_model_path(model, garment=garment)
    suffix = path.suffix.lower()
    if backend == "torch":
        if suffix == ".onnx":
            raise AnimateError(f"model file {path}: an ONNX model needs --backend onnx (the torch backend reads .npz)")
        from drape.model.dynamics import GarmentDynamicsModel

        m = GarmentDynamicsModel.load(path)
        m.net.eval()
        return m, path
    from drape.model.onnx_backend import OnnxGarmentDynamics

    onnx_path = path if suffix == ".onnx" else _onnx_for(path)
    return OnnxGarmentDynamics.load(onnx_path, threads=threads), path


# --------------------------------------------------------------------------- inputs


def _model_shape(reference) -> BodyShape:
    values = (reference.meta or {}).get("body_shape")
    return BodyShape.from_dict(values) if isinstance(values, dict) else BodyShape()


def _as_shape(body_shape) -> BodyShape | None:
    if body_shape is None or isinstance(body_shape, BodyShape):
        return body_shape
    if isinstance(body_shape, dict):
        return BodyShape.from_dict(body_shape)
    if isinstance(body_shape, str):
        return BodyShape.parse(body_shape) if body_shape else None
    raise AnimateError(f"body_shape: expected BodyShape, dict, 'name=value,...' or None, got {type(body_shape).__name__}")


def resolve_body_shape(reference, body_shape=None) -> BodyShape:
    """The body shape to animate on: the model's (from its reference meta); a given shape must equal it."""
    want = _model_shape(reference)
    got = _as_shape(body_shape)
    if got is None:
        return want
    a, b = want.to_dict(), got.to_dict()
    if any(abs(a[k] - b[k]) > 1e-6 for k in a):
        raise AnimateError(
            f"body shape {b} differs from the body the model was trained on {a}; the garment reference "
            "(rest drape, contact binding) belongs to that body. Train a model on the new shape "
            "(drape dataset build --body-shapes ... then drape train --body-shape ...)"
        )
    return want


def _garment_name(reference, garment: str | None) -> str:
    meta = reference.meta or {}
    return str(meta.get("garment") or reference.name)


def check_garment_name(reference, garment: str | None, model_path: Path) -> None:
    """A library garment name must be the model's garment (files are checked by their faces)."""
    if garment is None:
        return
    spec = str(garment)
    if Path(spec).suffix:  # a garment file: compared by faces when built
        return
    name = _garment_name(reference, garment)
    if spec != name:
        raise AnimateError(f"model {model_path.name} is for garment {name!r}, not {spec!r}; pass --model for {spec}")


def prepare_motion(motion, *, fps: float, frames: int | None = None) -> Motion:
    """The motion at ``fps``, cut to ``frames`` (a looping clip is repeated to reach it)."""
    if frames is not None and (not isinstance(frames, (int, np.integer)) or isinstance(frames, bool) or frames < 1):
        raise AnimateError(f"frames: expected a positive integer, got {frames!r}")
    if isinstance(motion, Motion):
        mot = motion
        if abs(float(mot.fps) - float(fps)) > 1e-6:
            raise AnimateError(f"motion {mot.name}: recorded at {mot.fps} fps, the model works at {fps} fps; resample it")
    else:
        from drape.sim.inputs import resolve_motion

        mot = resolve_motion(str(motion), fps=fps, frames=frames)
    if frames is not None:
        if frames > mot.frame_count:
            raise AnimateError(f"frames: motion {mot.name} has {mot.frame_count} frames at {fps:g} fps and does not loop; asked for {frames}")
        mot = dataclasses.replace(mot, world_rotations=mot.world_rotations[:frames], root_translation=mot.root_translation[:frames])
    return mot


# --------------------------------------------------------------------------- initial states


def rest_init_states(reference, transforms: np.ndarray, *, fps: float) -> list[GarmentState]:
    """The reference drape skinned with the binding to each of ``transforms`` (n, J, 4, 4)."""
    from drape.eval.metrics import lbs_baseline

    verts = lbs_baseline(reference, transforms)
    return _states(verts, fps)


def _states(verts: np.ndarray, fps: float, velocities: np.ndarray | None = None) -> list[GarmentState]:
    verts = np.asarray(verts, dtype=np.float32)
    if velocities is None:
        velocities = np.zeros_like(verts)
        velocities[1:] = (verts[1:] - verts[:-1]) * np.float32(fps)
    return [GarmentState(verts[f].copy(), np.asarray(velocities[f], dtype=np.float32).copy()) for f in range(len(verts))]


def sim_config_for(reference, overrides: dict | None = None):
    """The SimConfig the model's training data was simulated with (reference meta), with ``overrides``."""
    from drape.sim.config import SimConfig

    known = {f.name for f in dataclasses.fields(SimConfig)}
    values = {k: v for k, v in dict((reference.meta or {}).get("sim_config") or {}).items() if k in known}
    for k, v in dict(overrides or {}).items():
        if k not in known:
            raise AnimateError(f"simulation setting {k!r}: unknown; expected one of {', '.join(sorted(known))}")
        if v is not None:
            values[k] = v
    return SimConfig(**values)


def physics_init_states(reference, garment: str | None, motion: Motion, shape: BodyShape, count: int, *,
                        sim_overrides: dict | None = None, progress: bool = False) -> tuple[list[GarmentState], dict]:
    """The first ``count`` frames simulated by the physics engine on the model's garment.

    The garment is rebuilt from its name (default: the model's garment) with the model's vertex
    count and must have the model's faces. Returns (states, timings dict).
    """
    from drape.sim.inputs import resolve_garment
    from drape.sim.simulate import simulate

    meta = reference.meta or {}
    spec = str(garment) if garment is not None else _garment_name(reference, None)
    gar = resolve_garment(spec, body_shape=shape, vert_count=meta.get("vert_count"))
    faces = np.asarray(gar.faces)
    if faces.shape != reference.faces.shape or not np.array_equal(faces, reference.faces):
        raise AnimateError(
            f"garment {spec!r} ({gar.vert_count} vertices, {len(faces)} faces) does not match the model's garment "
            f"{_garment_name(reference, None)!r} ({reference.vert_count} vertices, {len(reference.faces)} faces, "
            f"vert_count setting {meta.get('vert_count')}); the model only animates the mesh it was trained on"
        )
    config = sim_config_for(reference, sim_overrides)
    t0 = time.perf_counter()
    # The rest-pose drape comes from the cache the dataset builder fills (same key: garment, vertex
    # count, body shape, settings): settled once per machine, as for the training sequences.
    from drape.data.build import cached_rest_drape

    rest = cached_rest_drape(spec, gar, shape, config)
    settle_sec = time.perf_counter() - t0
    gar = dataclasses.replace(gar, verts=rest)
    res = simulate(gar, motion, body_shape=shape, frames=count, config=dataclasses.replace(config, settle_frames=0),
                   progress=progress)
    seq = res.sequence
    info = {"physics_init_sec": time.perf_counter() - t0, "physics_sec_per_frame": float(res.sec_per_frame),
            "physics_settle_sec": settle_sec + float(res.settle_sec), "settle_frames": config.settle_frames,
            "blend_frames": config.blend_frames}
    return _states(seq.garment_verts[:count], float(config.fps), seq.garment_velocities[:count]), info


# --------------------------------------------------------------------------- preview


def write_preview_gif(path, body_verts: np.ndarray, body_faces: np.ndarray, garment_verts: np.ndarray,
                      garment_faces: np.ndarray, *, fps: float, every: int = 2, size: int = 256,
                      view: str | float = 20.0) -> Path:
    """Animated GIF of body + garment: frames 0, every, 2*every... at ``size`` pixels, one fixed framing.

    body_verts (F, Vb, 3), garment_verts (F, Vg, 3) metres. Written atomically. Returns the path.
    """
    from PIL import Image

    from drape.geometry.render import render_meshes, view_camera

    path = Path(path)
    F = len(garment_verts)
    idx = np.arange(0, F, max(1, int(every)))
    cam = view_camera(view)
    pts = np.concatenate([np.asarray(body_verts)[idx, ::7].reshape(-1, 3), np.asarray(garment_verts)[idx].reshape(-1, 3)])
    v = cam.to_view(pts.astype(np.float64))
    lo, hi = v.min(0), v.max(0)
    center = (lo + hi) / 2
    half = float(max(hi[0] - lo[0], hi[1] - lo[1]) / 2 * 1.06)
    images = []
    for f in idx:
        rgb = render_meshes([(body_verts[f], body_faces, (200, 200, 200)), (garment_verts[f], garment_faces, (60, 120, 220))],
                            view=view, size=size, bounds=(center, max(half, 1e-6)))
        images.append(Image.fromarray(rgb).quantize(colors=64, method=Image.Quantize.MEDIANCUT))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    duration = int(round(1000.0 * max(1, int(every)) / float(fps)))
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0, disposal=1)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- the pipeline


def animate(
    *,
    garment: str | None,
    motion,
    out_dir: str | os.PathLike,
    model: str | os.PathLike | None = None,
    body_shape=None,
    frames: int | None = None,
    init: str = "physics",
    backend: str = "torch",
    obj: bool = False,
    preview: bool = True,
    threads: int = 1,
    sim_overrides: dict | None = None,
    progress: bool = False,
    on_progress: Callable[[str, float], None] | None = None,
) -> AnimateResult:
    """Animate ``garment`` on a body performing ``motion`` with a learned model; write the avatar to ``out_dir``.

    garment: library garment name (``tshirt``, ``skirt``..., ``tube``) or garment file; None: the model's.
    motion: built-in clip name, ``.bvh`` path, ``swing`` or a :class:`~drape.types.Motion` at the model's fps.
    model: model file (``.npz``/``.onnx``) or bundled model name; None: the bundled model for ``garment``.
    body_shape: BodyShape, dict or ``name=value,...``; default and only accepted value: the model's body.
    frames: motion frames to animate (default: the whole clip; a looping clip is repeated to reach it).
    init: ``physics`` (simulate the first i + 1 frames) or ``rest`` (reference drape skinned).
    backend: ``torch`` or ``onnx``. obj: also write ``frames/`` (one OBJ per frame).
    preview: write ``preview.gif``. threads: torch / onnxruntime threads for the rollout.
    sim_overrides: SimConfig fields replacing the model's simulation settings for the physics start
    (e.g. ``{"settle_frames": 10}``). progress: tqdm bars. on_progress: ``callback(stage, fraction)``
    with stage in load, init, rollout, export, done and fraction in [0, 1] of the whole run.

    ``report.json``: format ``drape-animate-report`` v1 with frames, fps, garment, garment_vert_count,
    motion, motion_source, model (file), model_garment, backend, init, init_frames,
    model_ms_per_frame (rollout wall time per predicted frame: features, contact, network,
    skinning), physics_init_sec and physics_sec_per_frame (physics start only), body_shape,
    stage timings, files and glb_bytes.
    """
    if init not in INIT_MODES:
        raise AnimateError(f"init: expected one of {', '.join(INIT_MODES)}, got {init!r}")
    if backend not in BACKENDS:
        raise AnimateError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if not (isinstance(threads, (int, np.integer)) and threads >= 1):
        raise AnimateError(f"threads: expected an integer >= 1, got {threads!r}")
    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def report_progress(stage: str, frac: float) -> None:
        if on_progress is not None:
            lo, hi = _STAGES.get(stage, (1.0, 1.0))
            on_progress(stage, float(min(1.0, max(0.0, lo + (hi - lo) * frac))))

    # ---- load: model, motion, body
    report_progress("load", 0.0)
    t0 = time.perf_counter()
    net, model_path = load_model(model, garment=garment, backend=backend, threads=threads)
    ref = net.reference
    check_garment_name(ref, garment, model_path)
    shape = resolve_body_shape(ref, body_shape)
    fps = float(net.config.fps)
    n = int(net.config.window) + 1
    mot = prepare_motion(motion, fps=fps, frames=frames)
    if mot.frame_count < n + 1:
        raise AnimateError(f"motion {mot.name}: {mot.frame_count} frames; the model needs at least {n + 1} "
                           f"({n} initial frames for window {n - 1} and one to predict)")
    from drape.body import Body

    body = Body(shape)
    if tuple(ref.bone_names) != tuple(body.bone_names):
        raise AnimateError(f"model {model_path.name}: its rig has {len(ref.bone_names)} bones {list(ref.bone_names)[:3]}..., "
                           f"not the body's {body.bone_count}-bone rig; it cannot animate a real body")
    posed = body.pose_motion(mot)
    T = np.asarray(posed.skeleton.bone_transforms, dtype=np.float32)
    F = mot.frame_count
    timings["load_sec"] = time.perf_counter() - t0
    report_progress("load", 1.0)

    # ---- initial garment states
    report_progress("init", 0.0)
    t0 = time.perf_counter()
    info: dict = {}
    if init == "physics":
        states, info = physics_init_states(ref, garment, mot, shape, n, sim_overrides=sim_overrides, progress=progress)
    else:
        if garment is not None and Path(str(garment)).suffix:
            _check_garment_file(ref, str(garment), shape)
        states = rest_init_states(ref, T[:n], fps=fps)
    timings["init_sec"] = time.perf_counter() - t0
    report_progress("init", 1.0)

    # ---- rollout
    from drape.rollout import rollout

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=F - n, desc=f"animate {ref.name}/{mot.name}", unit="frame")

    def step_cb(f: int, total: int) -> None:
        if bar is not None:
            bar.update(1)
        report_progress("rollout", (f - n + 1) / max(1, total - n))

    prev_threads = None
    if backend == "torch":
        import torch

        prev_threads = torch.get_num_threads()
        torch.set_num_threads(int(threads))
    t0 = time.perf_counter()
    try:
        with blas_threads(threads):
            pred = rollout(net, states, posed.skeleton, progress=step_cb)
    finally:
        if prev_threads is not None:
            import torch

            torch.set_num_threads(prev_threads)
        if bar is not None:
            bar.close()
    rollout_sec = time.perf_counter() - t0
    timings["rollout_sec"] = rollout_sec
    if not np.isfinite(pred).all():
        raise AnimateError(f"model {model_path.name}: the rollout produced NaN or infinite vertices")

    # ---- export
    report_progress("export", 0.0)
    t0 = time.perf_counter()
    vel = np.zeros_like(pred)
    vel[1:] = (pred[1:] - pred[:-1]) * np.float32(fps)
    vel[:n] = np.stack([s.velocities for s in states])
    import drape

    meta = {
        "garment": {"name": ref.name, "kind": ref.kind, "vert_count": ref.vert_count},
        "motion": {"name": mot.name, "fps": fps, "source": mot.source, "frames": int(F)},
        "body_shape": shape.to_dict(),
        "model": {"file": str(model_path), "backend": backend, "window": n - 1, "init": init},
        "versions": {"drape": drape.__version__},
    }
    seq = Sequence(
        fps=fps, body_verts=posed.verts, body_faces=posed.faces, garment_verts=pred, garment_velocities=vel,
        garment_faces=np.asarray(ref.faces, dtype=np.int32), world_rotations=np.asarray(mot.world_rotations, dtype=np.float32),
        root_translation=posed.root_translation, meta=meta,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    from drape.export import export_glb

    glb = export_glb(out_dir / "avatar.glb", seq, body)
    report_progress("export", 0.4)
    obj_dir = None
    if obj:
        from drape.export import export_obj_sequence

        obj_dir = out_dir / "frames"
        export_obj_sequence(obj_dir, seq)
    report_progress("export", 0.6)
    gif = None
    if preview:
        gif = write_preview_gif(out_dir / "preview.gif", posed.verts, posed.faces, pred, ref.faces, fps=fps)
    timings["export_sec"] = time.perf_counter() - t0

    report = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "frames": int(F),
        "fps": fps,
        "predicted_frames": int(F - n),
        "garment": ref.name,
        "garment_kind": ref.kind,
        "garment_vert_count": int(ref.vert_count),
        "motion": mot.name,
        "motion_source": mot.source,
        "model": str(model_path),
        "model_garment": _garment_name(ref, None),
        "backend": backend,
        "threads": int(threads),
        "init": init,
        "init_frames": n,
        "model_ms_per_frame": 1000.0 * rollout_sec / max(1, F - n),
        "physics_init_sec": info.get("physics_init_sec"),
        "physics_sec_per_frame": info.get("physics_sec_per_frame"),
        "body_shape": shape.to_dict(),
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "files": {"glb": glb.path.name, "preview": gif.name if gif else None, "frames": obj_dir.name if obj_dir else None},
        "glb_bytes": int(glb.byte_count),
        "drape_version": drape.__version__,
    }
    report["wall_sec"] = round(time.perf_counter() - t_start, 3)
    report_path = out_dir / "report.json"
    tmp = report_path.with_name(f".{report_path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, report_path)
    report_progress("done", 1.0)
    return AnimateResult(out_dir=out_dir, glb=glb.path, report_path=report_path, report=report, preview=gif,
                         obj_dir=obj_dir, sequence=seq)


def _check_garment_file(reference, spec: str, shape: BodyShape) -> None:
    from drape.sim.inputs import resolve_garment

    gar = resolve_garment(spec, body_shape=shape)
    if not np.array_equal(np.asarray(gar.faces), reference.faces):
        raise AnimateError(
            f"garment file {spec}: {gar.vert_count} vertices / {len(gar.faces)} faces do not match the model's garment "
            f"{_garment_name(reference, None)!r} ({reference.vert_count} vertices / {len(reference.faces)} faces)"
        )
