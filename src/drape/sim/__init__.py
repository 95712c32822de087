"""sim stage: the physics engine (Newton) that makes ground-truth garment dynamics.

- :func:`simulate` (garment, motion) -> :class:`SimResult` (sequence, rest drape, timings)
- :func:`drape_garment` (garment, body shape) -> (V, 3) rest-pose drape
- :class:`SimConfig` all settings (also the ``drape simulate`` options)

Inside, ``newton_cloth`` owns the Newton scene, ``collider`` the deforming body mesh, and
``launch_replay`` the recorded kernel launches that keep Warp's per-launch Python cost out of
the substep loop. Newton and Warp load only when a simulation is built.
"""

from drape.sim.config import SimConfig, SimConfigError
from drape.sim.simulate import SimResult, SimulationError, drape_garment, simulate

__all__ = ["SimConfig", "SimConfigError", "SimResult", "SimulationError", "drape_garment", "simulate"]
