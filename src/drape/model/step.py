"""The one garment step shared by every inference backend (torch, ONNX Runtime).

``next_state = step_garment(reference, cfg, history, skeleton, predict)``: features of
the last ``window + 1`` states and the skeleton, the backend's ``predict`` (vertex
features (V, C), global features (G,) -> canonical (V, 3) metres added to the prediction base), then
posing by the target skeleton. numpy only: importing this module loads no torch.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from drape.model.features import global_features, pose_with, prediction_base, target_skinning, vertex_features
from drape.types import DrapeError, GarmentState, SkeletonState


def step_garment(
    reference,
    feature_config,
    history: tuple[GarmentState, ...],
    skeleton: SkeletonState,
    predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> GarmentState:
    """Predict the next garment state.

    history: the last ``window + 1`` (or more; the last ``window + 1`` are used) garment states, oldest first.
    skeleton: ``bone_transforms`` (len(history) + 1, J, 4, 4) of the history frames then the target frame.
    Returns a new GarmentState: world verts (V, 3) float32 metres, velocities (V, 3) m/s, and its
    canonical (unposed) verts, which the next step reads instead of inverting the skinning.
    """
    n = feature_config.window + 1
    if len(history) < n:
        raise DrapeError(f"model step: need {n} history states for window {feature_config.window}, got {len(history)}")
    T_all = np.asarray(skeleton.bone_transforms, dtype=np.float32)
    if T_all.ndim != 4 or T_all.shape[0] != len(history) + 1 or T_all.shape[1] != reference.bone_count:
        raise DrapeError(
            f"model step: skeleton.bone_transforms: expected ({len(history) + 1}, {reference.bone_count}, 4, 4), "
            f"got {T_all.shape}"
        )
    hist = np.stack([np.asarray(s.verts, dtype=np.float32) for s in history[-n:]])
    if hist.shape[1:] != (reference.vert_count, 3):
        raise DrapeError(f"model step: garment states: expected ({reference.vert_count}, 3) verts, got {hist.shape[1:]}")
    T = T_all[-(n + 1):]
    # States from an earlier step of this model carry their unposed verts: no inverse skinning then.
    cached = [s.canonical for s in history[-n:]]
    hist_c = None
    if all(c is not None and np.shape(c) == (reference.vert_count, 3) for c in cached):
        hist_c = np.stack(cached).astype(np.float32, copy=False)
    blend = target_skinning(reference, T[-1])  # drives the features and poses the prediction
    vf, c_t = vertex_features(reference, hist, T, feature_config, history_canonical=hist_c, target_blend=blend)
    gf = global_features(reference, T, feature_config)
    canon = (prediction_base(reference, c_t, feature_config) + predict(vf, gf)).astype(np.float32)
    verts = pose_with(blend, canon).astype(np.float32)
    vel = ((verts - hist[-1]) * feature_config.fps).astype(np.float32)
    return GarmentState(verts=verts, velocities=vel, canonical=canon)
