"""Body stage: the anny body model (rig, shape, posing, LBS, collision proxy)."""

from drape.body.model import (
    DEFAULT_RIG,
    FULL_TOPOLOGY,
    PROXY_TOPOLOGY,
    Body,
    PosedBody,
    linear_blend_skinning,
    load_anny,
    shift_posed,
    slice_posed,
)

__all__ = [
    "DEFAULT_RIG",
    "FULL_TOPOLOGY",
    "PROXY_TOPOLOGY",
    "Body",
    "PosedBody",
    "linear_blend_skinning",
    "load_anny",
    "shift_posed",
    "slice_posed",
]
