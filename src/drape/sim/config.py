"""Simulation settings: one frozen dataclass whose field help becomes the CLI help."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from drape.config import opt
from drape.types import DrapeError

SOLVERS = ("style3d", "vbd")
COLLIDERS = ("anny", "proxy")

DEFAULT_ITERATIONS = {"style3d": 15, "vbd": 15}
"""Non-linear iterations per substep when ``SimConfig.iterations`` is None."""

DEFAULT_TETHER = {"skirt": 0.15, "dress": 0.15}
"""``SimConfig.tether`` per garment kind when it is None (other kinds: 0, no tether).

Measured on the library skirt, ``drape simulate --garment skirt --motion walk --loops 4 --frames 240
--no-self-collision`` (hem height: mean of the lowest 10 % of vertices relative to the root): without
a tether the hem climbs 13.2 cm (21.8 cm over 1,000 frames, still climbing) as the swinging thighs
bunch the cloth up under the waistband; with tether 0.15 it rises 4.7 cm, most of it in the first
90 frames (0.25: 6.0 cm). Body penetration stays at the untethered level because the tether yields
to body contact (see ``ClothScene.substep``): walk 0.036 %, the first 90 frames of CMU 09_06 (run)
0.05 % with 0.25 as without a tether, kick 0.06 %. A hard clamp after each substep instead pulled
the hem into the legs: 1.7 % on 09_06 and 1.2 % on kick.
"""


class SimConfigError(DrapeError):
    """A simulation setting is out of range."""


@dataclass(frozen=True)
class SimConfig:
    """How the physics engine (Newton) simulates a garment on a moving body.

    Stiffnesses follow Newton's Style3D conventions: stretch and shear are
    membrane stiffnesses in N/m (energy = area * k * strain^2), bending is in
    N*m. Lengths are metres, times seconds.

    Defaults measured on a 4.5k-vertex skirt on the built-in ``walk`` clip
    (38 frames, full anny collider): 0.03% of garment vertices > 1 mm inside
    the full body (max 0.18% in a frame), stretch p99 1.07. A stretch stiffness
    of 1e3 N/m let the legs stretch the skirt to p99 1.17. The 1,229-vertex
    proxy collider was ~25% cheaper but left 0.73% (max 1.0%) of the skirt
    inside the full body mesh, so the full mesh is the default collider.

    Style3D iterations: on the T-shirt over the first 24 frames of ``dance_a``
    (arms raised), 5 iterations gave stretch p99 1.16-1.21 (the under-arm seam),
    10 gave 1.10, 20 gave 1.065; stiffer stretch (2e4-1e5 N/m) made it worse
    (the solver does not converge) and pushed cloth into the body (1-2%).
    15 is the default.
    """

    solver: str = opt("style3d", "cloth solver: style3d (projective dynamics, needs the sewing pattern) or vbd", choices=SOLVERS)
    fps: float = opt(30.0, "output frames per second (the motion is expected at this rate)")
    substeps: int = opt(10, "solver substeps per frame")
    iterations: int | None = opt(None, "non-linear iterations per substep (default: 15 for style3d, 15 for vbd)")
    density: float = opt(0.2, "fabric mass per area, kg/m^2")
    stretch_stiffness: float = opt(1.0e4, "membrane stretch stiffness along weft and warp, N/m")
    shear_stiffness: float = opt(1.0e3, "membrane shear stiffness, N/m")
    bend_stiffness: float = opt(2.0e-5, "bending stiffness, N*m")
    damping: float = opt(1.0e-6, "bending/stretch damping (solver units)")
    friction: float = opt(0.3, "cloth-body friction coefficient")
    contact_stiffness: float = opt(1.0e4, "cloth-body contact stiffness, N/m")
    contact_damping: float = opt(1.0e-4, "cloth-body contact damping")
    thickness: float = opt(4.0e-3, "cloth particle radius for body contact, metres (the gap kept from the skin)")
    contact_margin: float = opt(1.0e-2, "extra detection distance for body contacts, metres")
    self_collision: bool = opt(True, "resolve cloth self-collision (style3d only)")
    self_collision_radius: float = opt(3.0e-3, "cloth self-collision radius, metres (style3d)")
    settle_frames: int = opt(40, "frames of draping in the rest pose before the motion starts")
    settle_damping: float = opt(0.1, "fraction of velocity removed per substep while settling (0 = none)")
    blend_frames: int = opt(15, "frames blending the rest pose into the motion's first frame")
    gravity: float = opt(-9.81, "gravity along z, m/s^2")
    collider: str = opt("anny", "body mesh used as collider: anny (13,718-vertex full mesh) or proxy (1,229 vertices)", choices=COLLIDERS)
    tether: float | None = opt(
        None,
        "max distance of each garment vertex from its skinned rest-drape position, as a fraction of its "
        "rest height below the garment's top, plus tether_slack (0 = off; default: 0.15 for skirts and "
        "dresses, 0 for other kinds)",
    )
    tether_slack: float = opt(0.01, "distance every vertex may move from its skinned rest-drape position before the tether acts, metres")
    max_speed: float = opt(30.0, "a garment vertex faster than this (m/s) counts as an explosion and stops the run")

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> SimConfigError:
            return SimConfigError(f"SimConfig.{name}: expected {expected}, got {getattr(self, name)!r}")

        if self.solver not in SOLVERS:
            raise bad("solver", "one of " + ", ".join(SOLVERS))
        if self.collider not in COLLIDERS:
            raise bad("collider", "one of " + ", ".join(COLLIDERS))
        for name in ("substeps", "settle_frames", "blend_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad(name, "an integer")
        if self.substeps < 1:
            raise bad("substeps", "an integer >= 1")
        if self.iterations is not None and (
            not isinstance(self.iterations, int) or isinstance(self.iterations, bool) or self.iterations < 1
        ):
            raise bad("iterations", "an integer >= 1 or None")
        if self.settle_frames < 0:
            raise bad("settle_frames", "an integer >= 0")
        if self.blend_frames < 0:
            raise bad("blend_frames", "an integer >= 0")
        positive = ("fps", "density", "stretch_stiffness", "contact_stiffness", "thickness", "max_speed")
        non_negative = (
            "shear_stiffness", "bend_stiffness", "damping", "friction", "contact_damping",
            "contact_margin", "self_collision_radius", "tether_slack",
        )
        for name in positive + non_negative + ("gravity", "settle_damping"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise bad(name, "a finite number")
        for name in positive:
            if getattr(self, name) <= 0:
                raise bad(name, "a positive number")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise bad(name, "a number >= 0")
        if self.tether is not None and (
            not isinstance(self.tether, (int, float)) or isinstance(self.tether, bool)
            or not math.isfinite(self.tether) or self.tether < 0
        ):
            raise bad("tether", "a number >= 0 or None")
        if not 0.0 <= self.settle_damping < 1.0:
            raise bad("settle_damping", "a number in [0, 1)")

    @property
    def solver_iterations(self) -> int:
        """Iterations actually used (the solver's default when ``iterations`` is None)."""
        return self.iterations if self.iterations is not None else DEFAULT_ITERATIONS[self.solver]

    def tether_for(self, kind: str) -> float:
        """Tether actually used for a garment of ``kind`` (the per-kind default when ``tether`` is None)."""
        return float(self.tether) if self.tether is not None else DEFAULT_TETHER.get(kind, 0.0)

    @property
    def dt(self) -> float:
        """Substep length, seconds."""
        return 1.0 / (self.fps * self.substeps)

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready) with the resolved iteration count."""
        d = asdict(self)
        d["iterations"] = self.solver_iterations
        return d
