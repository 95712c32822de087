"""Resolve the garment and motion named on a command line or in a dataset task.

A garment is a library name (``tshirt``...), a garment file (``.npz`` saved by
drape, or a mesh: ``.obj``, ``.glb``, ``.gltf``, ``.usd*``), or ``tube`` (a small
test skirt). A motion is a built-in clip name, a ``.bvh`` path, or ``swing`` (a
synthetic leg swing for tests).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drape.types import BodyShape, DrapeError, Garment, Motion

TEST_GARMENTS = ("tube",)
TEST_MOTIONS = ("swing",)
MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".usd", ".usda", ".usdc", ".usdz")


def resolve_garment(spec: str, *, body_shape: BodyShape | None = None, vert_count: int | None = None) -> Garment:
    """The garment named by ``spec``, sized for ``body_shape``."""
    shape = body_shape or BodyShape()
    if spec == "tube":
        from drape.body import Body
        from drape.sim.testing import make_tube_garment

        kw = {}
        if vert_count:
            around = max(8, int(round(np.sqrt(vert_count * 32 / 12))))
            kw = {"around": around, "rows": max(3, int(round(vert_count / around)))}
        return make_tube_garment(Body(shape), **kw)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix == ".npz" or suffix in MESH_SUFFIXES:
        if not path.is_file():
            raise DrapeError(f"garment file {spec} not found")
        from drape.garment import import_garment, load_garment

        if suffix == ".npz":
            return load_garment(path)
        return import_garment(path, body_shape=shape)
    from drape.garment import garment_library, make_garment

    names = [entry[0] for entry in garment_library()]
    if spec not in names:
        raise DrapeError(
            f"garment {spec!r}: not a library garment ({', '.join(names)}) nor a garment file "
            f"(.npz, {', '.join(MESH_SUFFIXES)})"
        )
    kw = {"body_shape": shape}
    if vert_count:
        kw["vert_count"] = int(vert_count)
    return make_garment(spec, **kw)


def resolve_motion(spec: str, *, fps: float = 30.0, frames: int | None = None, loops: int = 1) -> Motion:
    """The motion named by ``spec`` at ``fps``.

    ``loops`` repeats a looping clip that many times (its seam is blended); a looping
    clip still shorter than ``frames`` is repeated further to reach it.
    """
    if not isinstance(loops, int) or isinstance(loops, bool) or loops < 1:
        raise DrapeError(f"loops: expected a positive integer, got {loops!r}")
    if spec == "swing":
        from drape.body import Body
        from drape.sim.testing import make_swing_motion

        return make_swing_motion(Body(), frames=max(frames or 60, 1), fps=fps)
    from drape.motion import load_motion

    motion = load_motion(spec, fps=fps)
    if loops > 1 and not motion.loop:
        raise DrapeError(f"motion {motion.name}: --loops {loops} needs a looping clip; this one does not loop")
    single = motion.frame_count
    count = max(loops, int(np.ceil(frames / single)) if frames and motion.loop else 1)
    if count > 1:
        motion = load_motion(spec, fps=fps, loops=count)
    return motion
