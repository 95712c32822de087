"""The garment-dynamics model: features -> UV map -> CNN -> per-vertex offset change -> skinning.

One step (DESIGN §1 steps 4-7) from the garment frames t-i .. t and the skeleton of frames
t-i .. t+1:

1. per-vertex features and the skeleton vector (:mod:`drape.model.features`), normalised;
2. rasterized into the garment's UV atlas at ``image_size`` pixels, plus the mask channel;
3. the FiLM U-Net (:mod:`drape.model.net`) predicts a 3-channel map of the normalised offset change;
4. sampled at each vertex's UV(s), de-normalised: ``canonical(t+1) = canonical(t) + delta``;
5. posed with the target skeleton by LBS with the offset space's frame weights.

The model file is a single ``.npz`` (no pickle): a JSON header (format name
``drape-garment-dynamics``, version, config, garment reference header) and the arrays of
the garment reference, the normaliser and the network weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drape.config import opt
from drape.geometry.uv_raster import build_raster_map
from drape.model.features import (
    CONTACT_FLAGS,
    PREDICTIONS,
    FeatureConfig,
    GarmentReference,
    Normalizer,
    global_channel_count,
    hand_chain_bones,
    normalize_vertex_features,
    skeleton_joint_index,
    vertex_channel_names,
)
from drape.types import DrapeError, GarmentState, SkeletonState

MODEL_FORMAT = "drape-garment-dynamics"
MODEL_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    """Garment-dynamics model settings (saved in the model file)."""

    window: int = opt(2, "i: garment frames t-i..t are read to predict t+1 (1 or 2)")
    fps: float = opt(30.0, "frame rate the model works at (Hz)")
    contact_threshold: float = opt(0.01, "metres: contact distance below which a vertex is flagged in contact")
    contact_flag: str = opt("ramp", "contact flag: step (0/1 at the threshold) or ramp (linear from threshold/2 to "
                                    "3 threshold/2; continuous, so the torch and ONNX backends cannot flip it apart)",
                            choices=CONTACT_FLAGS)
    prediction: str = opt("offset", "network output: offset (whole offset from the reference) or delta (offset change "
                                    "since frame t; drifts on long rollouts)", choices=PREDICTIONS)
    hands: bool = opt(False, "hand channels: each vertex's vector to and proximity of the nearest forearm/hand "
                             "(for garments the hands brush without being bound to them, such as skirts)")
    skeleton_joints: str = opt("", "comma-separated non-root bones whose rotations enter the skeleton features "
                                   "(empty: all); a skirt need not read the arms, which reach it through the hand channels")
    feature_clip: float = opt(8.0, "normalised vertex features are clipped to +-this many standard deviations (0: off); "
                                   "bounds what a long rollout feeds back")
    image_size: int = opt(64, "UV feature-map size in pixels (square; divisible by 2^levels)")
    dilation: int = opt(3, "pixels of dilation around UV panels")
    widths: str = opt("24,48,96", "U-Net channels per level, comma separated")
    skip_channels: int = opt(8, "channels of the full-resolution skip path")
    head_channels: int = opt(16, "hidden channels of the full-resolution head")
    film_hidden: int = opt(128, "hidden width of the FiLM MLP")

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig(window=self.window, fps=self.fps, contact_threshold=self.contact_threshold,
                             contact_flag=self.contact_flag, prediction=self.prediction, hands=self.hands,
                             skeleton_joints=tuple(j.strip() for j in str(self.skeleton_joints).split(",") if j.strip()))

    @property
    def net(self):
        from drape.model.net import NetConfig

        try:
            widths = tuple(int(w) for w in str(self.widths).split(",") if w.strip())
        except ValueError:
            raise DrapeError(f"model config: widths: expected comma-separated integers, got {self.widths!r}") from None
        return NetConfig(widths=widths, skip_channels=self.skip_channels, head_channels=self.head_channels, film_hidden=self.film_hidden)


LEGACY_CONFIG = {"contact_flag": "step", "hands": False}
"""Config values of model files written before the key existed (their behaviour then)."""


def model_config_from_header(values: dict, where: str) -> ModelConfig:
    """The ModelConfig a model file's header stores; keys it lacks take their :data:`LEGACY_CONFIG` value."""
    unknown = set(values) - {f.name for f in dataclasses.fields(ModelConfig)}
    if unknown:
        raise DrapeError(f"{where}: unknown config keys {sorted(unknown)}")
    return ModelConfig(**{**LEGACY_CONFIG, **values})


class GarmentDynamicsModel:
    """A trained (or fresh) model for one garment reference.

    ``GarmentDynamicsModel(config, reference, normalizer=None, *, seed=0)``; a fresh model has a
    zero-initialised output layer, so it predicts the mean offset change (no change with an
    identity normaliser): the garment is carried by the skeleton.
    """

    def __init__(self, config: ModelConfig, reference: GarmentReference, normalizer: Normalizer | None = None, *, seed: int = 0):
        import torch

        from drape.model.net import FiLMUNet
        from drape.model.uv import UVMapper

        self.config = config
        self.reference = reference
        self.feature_config = config.features
        levels = len(config.net.widths)
        if config.image_size % (2**levels):
            raise DrapeError(f"model config: image_size {config.image_size} must be divisible by 2^{levels}")
        self.raster_map = build_raster_map(
            reference.atlas_uv, reference.faces, config.image_size, vert_count=reference.vert_count, dilation=config.dilation
        )
        self.mapper = UVMapper(self.raster_map)
        if config.hands:
            hand_chain_bones(reference.bone_names)  # raises when the rig lacks the hand bones
            if reference.rest_heads is None:
                raise DrapeError(f"model config: hands needs a garment reference with the rig's rest bone heads; "
                                 f"{reference.name}'s has none")
        self.vertex_channels = len(vertex_channel_names(config.window, config.hands))
        joints = skeleton_joint_index(reference.bone_names, self.feature_config.skeleton_joints)  # raises on unknown bones
        self.global_channels = global_channel_count(reference.bone_count, len(joints))
        if normalizer is None:
            normalizer = Normalizer.identity(self.vertex_channels, self.global_channels)
        self._check_normalizer(normalizer)
        self.normalizer = normalizer
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = FiLMUNet(self.vertex_channels + 1, self.global_channels, config.net)
        self._norm_t = None

    def _check_normalizer(self, n: Normalizer) -> None:
        want = (self.vertex_channels, self.global_channels, 3)
        got = (len(n.vertex_mean), len(n.global_mean), len(n.target_mean))
        if want != got:
            raise DrapeError(f"model: normalizer has (vertex, global, target) channels {got}, expected {want}")

    def set_normalizer(self, normalizer: Normalizer) -> None:
        self._check_normalizer(normalizer)
        self.normalizer = normalizer
        self._norm_t = None

    def _norm_tensors(self):
        import torch

        if self._norm_t is None:
            # Made outside inference mode even when first asked for inside it (a rollout before any training
            # step, as when a replay run resumes): inference tensors cannot enter autograd later.
            with torch.inference_mode(False):
                self._norm_t = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in self.normalizer.to_arrays().items()}
        return self._norm_t

    # ------------------------------------------------------------------ torch path (training and inference)
    def forward_normalized(self, vertex_feats, global_feats):
        """Normalised offset change (B, V, 3) from raw features: vertex (B, V, C) and global (B, G) torch tensors."""
        import torch

        n = self._norm_tensors()
        vn = normalize_vertex_features(vertex_feats, n["vertex_mean"], n["vertex_std"], float(self.config.feature_clip))
        gn = (global_feats - n["global_mean"]) / n["global_std"]
        if not torch.is_grad_enabled() and vn.shape[0] == 1 and vn.device.type == "cpu" and vn.dtype == torch.float32:
            # One inference frame: sparse-matrix gathers and a channels-last map (the same values, faster).
            return self.mapper.sample_frame(self.net(self.mapper.feature_map_frame(vn[0]), gn))[None]
        img = self.mapper.rasterize(vn)  # (B, C, H, W)
        mask = self.mapper.mask.expand(img.shape[0], 1, *img.shape[-2:])
        x = torch.cat([img, mask], 1)
        if not torch.is_grad_enabled():
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.net(x, gn)
        return self.mapper.sample(out)

    def normalize_target(self, delta):
        n = self._norm_tensors()
        return (delta - n["target_mean"]) / n["target_std"]

    def denormalize_target(self, delta_n):
        n = self._norm_tensors()
        return delta_n * n["target_std"] + n["target_mean"]

    def predict_delta(self, vertex_feats, global_feats):
        """Offset change (B, V, 3) metres, canonical frame (torch, differentiable)."""
        return self.denormalize_target(self.forward_normalized(vertex_feats, global_feats))

    # ------------------------------------------------------------------ inference
    def step(self, history: tuple[GarmentState, ...], skeleton: SkeletonState) -> GarmentState:
        """Predict the next garment state (see :func:`drape.model.step.step_garment`).

        history: the last ``window + 1`` (or more; the last ``window + 1`` are used) garment states, oldest first.
        skeleton: bone transforms of the history frames followed by the target frame,
        ``bone_transforms`` (len(history) + 1, J, 4, 4). Returns a new GarmentState (world verts, m/s velocities).
        """
        import torch

        from drape.model.step import step_garment

        def predict(vf: np.ndarray, gf: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return self.predict_delta(torch.from_numpy(vf)[None], torch.from_numpy(gf)[None])[0].numpy()

        return step_garment(self.reference, self.feature_config, history, skeleton, predict)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the model to one compressed ``.npz`` file (atomic replace). Returns the path."""
        path = Path(path)
        header = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "config": dataclasses.asdict(self.config),
            "reference": self.reference.header(),
            "vertex_channels": list(vertex_channel_names(self.config.window, self.config.hands)),
        }
        arrays = {"header": np.array(json.dumps(header))}
        arrays.update({f"ref/{k}": v for k, v in self.reference.to_arrays().items()})
        arrays.update({f"norm/{k}": v for k, v in self.normalizer.to_arrays().items()})
        arrays.update({f"net/{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "GarmentDynamicsModel":
        import torch

        path = Path(path)
        try:
            data = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DrapeError(f"model file {path} not found") from None
        except (ValueError, OSError) as exc:
            raise DrapeError(f"model file {path}: not a drape model ({exc})") from None
        with data:
            if "header" not in data.files:
                raise DrapeError(f"model file {path}: no header; expected a {MODEL_FORMAT} file")
            header = json.loads(str(data["header"]))
            if header.get("format") != MODEL_FORMAT:
                raise DrapeError(f"model file {path}: format is {header.get('format')!r}, expected {MODEL_FORMAT!r}")
            if header.get("version") != MODEL_VERSION:
                raise DrapeError(f"model file {path}: version {header.get('version')}, this drape reads version {MODEL_VERSION}")
            config = model_config_from_header(header["config"], f"model file {path}")
            group = lambda p: {k[len(p):]: data[k] for k in data.files if k.startswith(p)}  # noqa: E731
            reference = GarmentReference.from_arrays(header["reference"], group("ref/"))
            normalizer = Normalizer.from_arrays(group("norm/"))
            model = cls(config, reference, normalizer)
            state = {k: torch.from_numpy(np.array(v)) for k, v in group("net/").items()}
            try:
                model.net.load_state_dict(state)
            except RuntimeError as exc:
                raise DrapeError(f"model file {path}: network weights do not match the config ({exc})") from None
        return model
