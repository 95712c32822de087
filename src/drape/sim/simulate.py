"""Ground-truth garment dynamics: drape a garment on a body, then run it through a motion.

Timeline of :func:`simulate` (all at ``config.fps``):

1. *settle* (``config.settle_frames``): the body stands in its rest pose; the
   garment falls from its initial placement under gravity and drapes. The result
   is the garment's *reference geometry* (``SimResult.rest_drape``).
2. *blend* (``config.blend_frames``): the body moves smoothly from the rest pose
   to the motion's first frame (rotations slerped, root interpolated, with an
   ease-in/ease-out), so the cloth is not yanked.
3. *motion*: the motion's frames; only these are returned.

Pinned garment vertices (waistbands) are kinematic: they follow the body by
linear blend skinning of their rest positions, with weights taken from the
nearest body vertices. Inside a frame the body and pinned vertices are linearly
interpolated per substep.

With a tether (``config.tether_for(garment.kind)`` > 0: skirts and dresses by
default), every garment vertex is also pulled back towards a maximum distance of
its *skinned rest drape* (the settled drape posed by linear blend skinning with
the garment's binding weights): ``tether`` times the vertex's rest height below
the garment's top, plus ``tether_slack``. The limit grows from the waistband to
the hem, so a hem swings freely while the cloth just under a waistband cannot
bunch up stride after stride (the ride-up that contact with swinging thighs
otherwise accumulates on skirts). The pull comes before each substep's collision
detection, is at most half the contact margin, and skips vertices in contact with
the body (``ClothScene.substep``); it acts in the blend and motion frames, not
while settling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from drape.sim.collider import BodyCollider, nearest_body_weights
from drape.sim.config import SimConfig
from drape.types import BodyShape, DrapeError, Garment, Motion, Sequence

SEQUENCE_META_VERSION = 1


class SimulationError(DrapeError):
    """The simulation produced NaN or exploded. ``frame`` is the motion frame (negative: settle/blend)."""

    def __init__(self, message: str, *, frame: int | None = None, partial: "SimResult | None" = None):
        super().__init__(message)
        self.frame = frame
        self.partial = partial
        """The frames simulated before the failure (may be None)."""


@dataclass(frozen=True)
class SimResult:
    """What :func:`simulate` returns."""

    sequence: Sequence
    """The motion's frames: posed full body, garment positions and velocities."""
    rest_drape: np.ndarray
    """(V, 3) float32 metres, rest frame: the garment draped on the rest-pose body (reference geometry)."""
    sec_per_frame: float
    """Wall seconds of simulation per motion frame (settle and blend excluded)."""
    settle_sec: float
    """Wall seconds spent settling and blending."""
    nan: bool = False
    """True when the run stopped on NaN or an explosion (only in ``SimulationError.partial``)."""


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def blend_rotations(target: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Rotations from identity towards ``target`` (J, 3, 3) at fractions ``alphas`` (B,) -> (B, J, 3, 3)."""
    from scipy.spatial.transform import Rotation

    rv = Rotation.from_matrix(np.asarray(target, dtype=np.float64)).as_rotvec()  # (J, 3)
    out = np.empty((len(alphas),) + np.shape(target), dtype=np.float64)
    for i, a in enumerate(alphas):
        out[i] = Rotation.from_rotvec(rv * float(a)).as_matrix()
    return out


def _resolve_shape(garment: Garment, body_shape) -> BodyShape:
    if body_shape is None:
        meta_shape = garment.meta.get("body_shape") if isinstance(garment.meta, dict) else None
        if isinstance(meta_shape, BodyShape):
            return meta_shape
        if isinstance(meta_shape, dict):
            return BodyShape.from_dict(meta_shape)
        return BodyShape()
    if isinstance(body_shape, BodyShape):
        return body_shape
    if isinstance(body_shape, dict):
        return BodyShape.from_dict(body_shape)
    if isinstance(body_shape, str):
        return BodyShape.parse(body_shape)
    raise DrapeError(f"body_shape: expected BodyShape, dict, str or None, got {type(body_shape).__name__}")


class _Runner:
    """Drives a ClothScene frame by frame over body and pin tracks."""

    def __init__(self, garment: Garment, body, collider_body, config: SimConfig):
        from drape.sim.newton_cloth import ClothScene

        self.config = config
        self.garment = garment
        self.body = body
        self.collider_body = collider_body
        self.pinned = np.asarray(garment.pinned, dtype=np.int64)
        self.pin_rest = np.asarray(garment.verts, dtype=np.float32)[self.pinned]
        self.pin_weights = nearest_body_weights(self.pin_rest, body.rest_verts, body.skin_weights)
        self.collider = BodyCollider(collider_body.rest_verts, collider_body.faces)
        self.scene = ClothScene(garment, self.collider, config=config)
        self.body_prev = collider_body.rest_verts.astype(np.float32)
        self.pin_prev = self.pin_rest.copy()
        self.pos_prev = np.asarray(garment.verts, dtype=np.float32).copy()
        self.scale = float(np.ptp(body.rest_verts, axis=0).max())
        self.zero_body_vel = np.zeros_like(self.body_prev)
        self.tether_rest: np.ndarray | None = None
        self.tether_weights: np.ndarray | None = None
        self.tether_radius: np.ndarray | None = None
        self.tether_prev: np.ndarray | None = None

    def start_tether(self, rest_drape: np.ndarray) -> None:
        """Bind the tether to the settled drape (rest frame); a no-op without a tether for this garment kind."""
        from drape.garment.weights import transfer_weights

        tether = self.config.tether_for(self.garment.kind)
        if tether <= 0.0:
            return
        rest = np.asarray(rest_drape, dtype=np.float32)
        self.tether_rest = rest
        self.tether_weights = transfer_weights(rest, self.body, kind=self.garment.kind, faces=self.garment.faces)
        depth = np.maximum(rest[:, 2].max() - rest[:, 2], 0.0)
        radius = tether * depth + self.config.tether_slack
        radius[self.pinned] = np.inf  # kinematic: placed by the pins
        self.tether_radius = radius.astype(np.float32)
        self.tether_prev = rest.copy()

    def tether_at(self, bone_transforms: np.ndarray) -> np.ndarray | None:
        """(F, V, 3) skinned rest drape for skinning transforms (F, J, 4, 4), or None without a tether."""
        from drape.body.model import linear_blend_skinning

        if self.tether_rest is None:
            return None
        return linear_blend_skinning(self.tether_rest, self.tether_weights, bone_transforms)

    def pins_at(self, bone_transforms: np.ndarray) -> np.ndarray:
        """(F, P, 3) pinned vertex positions for skinning transforms (F, J, 4, 4)."""
        from drape.body.model import linear_blend_skinning

        if not self.pinned.size:
            return np.zeros((len(bone_transforms), 0, 3), dtype=np.float32)
        return linear_blend_skinning(self.pin_rest, self.pin_weights, bone_transforms)

    def frame(self, body_next: np.ndarray, pin_next: np.ndarray, *, damping: float = 0.0,
              tether_next: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Advance one frame to the given body/pin (and tether) targets; returns (positions, velocities) float32."""
        cfg = self.config
        S = cfg.substeps
        body_vel = (body_next - self.body_prev) * np.float32(cfg.fps)
        pin_vel = (pin_next - self.pin_prev) * np.float32(cfg.fps)
        self.scene.begin_frame()
        for s in range(1, S + 1):
            a = np.float32(s / S)
            self.collider.set(self.body_prev + a * (body_next - self.body_prev), body_vel)
            self.scene.set_pinned(self.pin_prev + a * (pin_next - self.pin_prev), pin_vel)
            tether = None
            if tether_next is not None:
                start = np.float32((s - 1) / S)  # the clamp acts on the substep's starting positions
                tether = (self.tether_prev + start * (tether_next - self.tether_prev), self.tether_radius)
            self.scene.substep(velocity_damping=damping, tether=tether)
        if tether_next is not None:
            self.tether_prev = np.asarray(tether_next, dtype=np.float32)
        self.body_prev = np.asarray(body_next, dtype=np.float32)
        self.pin_prev = np.asarray(pin_next, dtype=np.float32)
        pos = self.scene.positions
        vel = (pos - self.pos_prev) * np.float32(cfg.fps)
        self.pos_prev = pos
        return pos, vel

    def check(self, pos: np.ndarray, vel: np.ndarray, label: str) -> str | None:
        """None when the frame is sane, else a description of what went wrong."""
        if not np.isfinite(pos).all():
            bad = int(np.count_nonzero(~np.isfinite(pos).all(1)))
            return f"{label}: {bad} garment vertices are NaN or infinite"
        speed = np.linalg.norm(vel, axis=1)
        if speed.max() > self.config.max_speed:
            return (
                f"{label}: garment vertex {int(speed.argmax())} moves at {speed.max():.1f} m/s "
                f"(limit max_speed={self.config.max_speed} m/s): the cloth exploded"
            )
        lo = self.body_prev.min(0) - self.scale
        hi = self.body_prev.max(0) + self.scale
        if (pos < lo).any() or (pos > hi).any():
            return f"{label}: garment vertices left the body's neighbourhood (more than {self.scale:.2f} m away)"
        return None

    def settle(self, *, progress_bar=None) -> np.ndarray:
        cfg = self.config
        pos = self.scene.positions
        for i in range(cfg.settle_frames):
            pos, vel = self.frame(self.body_prev, self.pin_prev, damping=cfg.settle_damping)
            problem = self.check(pos, vel, f"settling frame {i}")
            if problem:
                raise SimulationError(f"garment {self.garment.name}: {problem}", frame=-(cfg.settle_frames - i) - cfg.blend_frames)
            if progress_bar is not None:
                progress_bar.update(1)
        return pos


def _bodies(shape: BodyShape, collider: str):
    from drape.body.model import PROXY_TOPOLOGY, Body

    body = Body(shape)
    collider_body = body if collider == "anny" else Body(shape, topology=PROXY_TOPOLOGY)
    return body, collider_body


def drape_garment(garment: Garment, body_shape=None, *, config: SimConfig = SimConfig()) -> np.ndarray:
    """The garment draped on the rest-pose body: (V, 3) float32 metres, rest frame.

    Starts from ``garment.verts`` (the initial placement) and settles it for
    ``config.settle_frames`` frames under gravity. Pinned vertices stay where
    the garment puts them. ``body_shape`` defaults to ``garment.meta['body_shape']``
    or the average body.
    """
    shape = _resolve_shape(garment, body_shape)
    body, collider_body = _bodies(shape, config.collider)
    runner = _Runner(garment, body, collider_body, config)
    return runner.settle().astype(np.float32)


def simulate(
    garment: Garment,
    motion: Motion,
    *,
    body_shape=None,
    frames: int | None = None,
    config: SimConfig = SimConfig(),
    progress: bool = False,
) -> SimResult:
    """Simulate ``garment`` on a body performing ``motion``.

    Args:
        garment: the garment (initial placement in the rest frame, sewing pattern, pinned vertices).
        motion: the motion, at ``config.fps`` frames per second.
        body_shape: BodyShape, dict or ``name=value,...`` string; default ``garment.meta['body_shape']`` or average.
        frames: number of motion frames to simulate (default: all).
        config: simulation settings.
        progress: show a tqdm progress bar.

    Returns:
        SimResult with the motion frames only (``sequence``), the rest-pose drape and timings.
        ``sequence.garment_velocities`` are backward differences of consecutive frames (m/s);
        the first frame's difference is taken against the last blend frame.

    Raises:
        SimulationError: NaN or explosion; ``.partial`` holds the frames done before it.
        DrapeError: bad inputs (fps mismatch, bones not matching the rig, frames out of range).
    """
    if abs(float(motion.fps) - float(config.fps)) > 1e-6:
        raise DrapeError(
            f"motion {motion.name}: recorded at {motion.fps} fps but the simulation runs at {config.fps} fps; "
            "resample the motion (drape.motion.load_motion(..., fps=...)) or set SimConfig.fps"
        )
    F = motion.frame_count if frames is None else int(frames)
    if not 1 <= F <= motion.frame_count:
        raise DrapeError(f"simulate: frames must be in [1, {motion.frame_count}] for motion {motion.name}, got {frames}")
    shape = _resolve_shape(garment, body_shape)
    body, collider_body = _bodies(shape, config.collider)

    posed = body.pose_motion(motion, frames=slice(0, F))
    rot0 = motion.world_rotations[0]
    B = config.blend_frames
    alphas = _smoothstep(np.arange(1, B + 1) / B) if B else np.zeros(0)
    rest_root = body.rest_root.astype(np.float64)
    blend_rot = blend_rotations(rot0, alphas)
    blend_root = rest_root[None] + alphas[:, None] * (posed.root_translation[0].astype(np.float64) - rest_root)[None]
    blend_posed = body.pose(blend_rot, blend_root) if B else None
    if collider_body is body:
        collider_motion = posed.verts
        collider_blend = blend_posed.verts if B else None
    else:
        collider_motion = collider_body.pose(motion.world_rotations[:F], posed.root_translation).verts
        collider_blend = collider_body.pose(blend_rot, blend_root).verts if B else None

    runner = _Runner(garment, body, collider_body, config)
    pins_motion = runner.pins_at(posed.skeleton.bone_transforms)
    pins_blend = runner.pins_at(blend_posed.skeleton.bone_transforms) if B else None

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.settle_frames + B + F, desc=f"simulate {garment.name}/{motion.name}", unit="frame")

    V = garment.vert_count
    g_verts = np.zeros((F, V, 3), dtype=np.float32)
    g_vels = np.zeros((F, V, 3), dtype=np.float32)
    t0 = time.perf_counter()
    done = 0

    def partial_result(rest: np.ndarray, settle_sec: float) -> SimResult:
        seq = _sequence(garment, motion, shape, config, posed, g_verts[:done], g_vels[:done], done, 0.0)
        return SimResult(seq, rest, 0.0, settle_sec, nan=True)

    try:
        rest_drape = runner.settle(progress_bar=bar).astype(np.float32)
        runner.start_tether(rest_drape)
        tether_blend = runner.tether_at(blend_posed.skeleton.bone_transforms) if B else None
        tether_motion = runner.tether_at(posed.skeleton.bone_transforms)
        for b in range(B):
            pos, vel = runner.frame(collider_blend[b], pins_blend[b],
                                    tether_next=None if tether_blend is None else tether_blend[b])
            problem = runner.check(pos, vel, f"blend frame {b}")
            if problem:
                raise SimulationError(f"garment {garment.name}: {problem}", frame=b - B)
            if bar is not None:
                bar.update(1)
        settle_sec = time.perf_counter() - t0
        t1 = time.perf_counter()
        for f in range(F):
            pos, vel = runner.frame(collider_motion[f], pins_motion[f],
                                    tether_next=None if tether_motion is None else tether_motion[f])
            problem = runner.check(pos, vel, f"motion {motion.name} frame {f}")
            if problem:
                raise SimulationError(
                    f"garment {garment.name}: {problem}",
                    frame=f,
                    partial=partial_result(rest_drape, settle_sec),
                )
            g_verts[f] = pos
            g_vels[f] = vel
            done = f + 1
            if bar is not None:
                bar.update(1)
        sec_per_frame = (time.perf_counter() - t1) / F
    finally:
        if bar is not None:
            bar.close()

    seq = _sequence(garment, motion, shape, config, posed, g_verts, g_vels, F, sec_per_frame)
    return SimResult(seq, rest_drape, sec_per_frame, settle_sec, nan=False)


def _sequence(garment, motion, shape, config, posed, g_verts, g_vels, F, sec_per_frame) -> Sequence:
    import drape

    versions = {"drape": drape.__version__}
    try:
        from importlib.metadata import version

        versions["newton"] = version("newton")
        versions["warp-lang"] = version("warp-lang")
    except Exception:  # noqa: BLE001 - metadata is informative only
        pass
    meta = {
        "meta_version": SEQUENCE_META_VERSION,
        "garment": {"name": garment.name, "kind": garment.kind, "vert_count": garment.vert_count},
        "motion": {"name": motion.name, "fps": float(motion.fps), "source": motion.source, "frames": int(F)},
        "body_shape": shape.to_dict(),
        "solver": {**config.to_dict(), "tether": config.tether_for(garment.kind)},
        "versions": versions,
        "timings": {"sec_per_frame": float(sec_per_frame)},
    }
    return Sequence(
        fps=float(config.fps),
        body_verts=posed.verts[:F],
        body_faces=posed.faces,
        garment_verts=g_verts[:F],
        garment_velocities=g_vels[:F],
        garment_faces=np.asarray(garment.faces, dtype=np.int32),
        world_rotations=np.asarray(motion.world_rotations[:F], dtype=np.float32),
        root_translation=posed.root_translation[:F],
        meta=meta,
    )
