"""Export a garment-dynamics model to one ONNX file for the torch-free backend.

:func:`export_onnx` writes an ``.onnx`` file that
:class:`drape.model.onnx_backend.OnnxGarmentDynamics` loads with onnxruntime and numpy only.
The graph is either the network alone (``graph="network"``, default: normalised feature map +
skeleton vector -> normalised offset-change map; numpy does rasterization and sampling) or the
whole normalised prediction (``graph="predict"``: raw vertex and global features -> offset
change in metres, with the UV gathers in the graph). The garment reference, normaliser, UV
raster map and config ride along in the file's ``metadata_props``; the layout is documented in
:mod:`drape.model.onnx_backend`. The batch dimension of every input is dynamic.

Exporters: ``"torchscript"`` (torch's TorchScript-based exporter, ``dynamo=False``; needs only
``onnx``) or ``"dynamo"`` (the torch.export-based exporter; also needs ``onnxscript``).
Both run offline.

:func:`verify_onnx` compares the exported file with the torch model on random features.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from drape.types import DrapeError

EXPORTERS = ("torchscript", "dynamo")


def _load_model(model_or_path):
    from drape.model.dynamics import GarmentDynamicsModel

    if isinstance(model_or_path, GarmentDynamicsModel):
        return model_or_path, str(getattr(model_or_path, "path", "") or "")
    if isinstance(model_or_path, (str, os.PathLike)):
        return GarmentDynamicsModel.load(model_or_path), str(model_or_path)
    raise DrapeError(f"onnx export: expected a GarmentDynamicsModel or a model file path, got {type(model_or_path).__name__}")


def _predict_module(model):
    """A torch module computing ``model.predict_delta`` with export-friendly gathers (no index_add)."""
    import torch

    from drape.geometry.uv_raster import padded_sample_taps
    from drape.model.features import normalize_vertex_features

    m = model.raster_map
    tap_pixel, tap_weight = padded_sample_taps(m)
    norm = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in model.normalizer.to_arrays().items()}

    class Predict(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model.net
            self.H, self.W = m.height, m.width
            self.clip = float(model.config.feature_clip)
            for k, v in norm.items():
                self.register_buffer(k, v)
            # Every pixel gathers its 3 triangle corners; empty pixels have zero barycentrics.
            bary = np.where(m.filled[..., None], m.bary, 0.0).astype(np.float32).reshape(-1, 3)
            self.register_buffer("tri_verts", torch.from_numpy(m.tri_verts.reshape(-1).astype(np.int64)))
            self.register_buffer("bary", torch.from_numpy(bary))
            self.register_buffer("mask", torch.from_numpy(m.mask.astype(np.float32).reshape(1, 1, m.height, m.width)))
            self.register_buffer("tap_pixel", torch.from_numpy(tap_pixel.reshape(-1)))
            self.register_buffer("tap_weight", torch.from_numpy(tap_weight))
            self.V, self.K = tap_weight.shape

        def forward(self, vertex_features, global_features):
            vn = normalize_vertex_features(vertex_features, self.vertex_mean, self.vertex_std, self.clip)  # (B, V, C)
            gn = (global_features - self.global_mean) / self.global_std
            C = vn.shape[-1]
            vals = vn.index_select(1, self.tri_verts).reshape(-1, self.H * self.W, 3, C)
            img = (vals * self.bary[None, :, :, None]).sum(2).transpose(1, 2).reshape(-1, C, self.H, self.W)
            x = torch.cat([img, self.mask.expand(img.shape[0], 1, self.H, self.W)], 1)
            out = self.net(x, gn).reshape(-1, 3, self.H * self.W)
            taps = out.index_select(2, self.tap_pixel).reshape(-1, 3, self.V, self.K)
            delta = (taps * self.tap_weight).sum(-1).transpose(1, 2)  # (B, V, 3)
            return delta * self.target_std + self.target_mean

    return Predict().eval()


def _run_exporter(module, args, inputs, outputs, *, opset: int, graph: str, exporter: str):
    """Run torch's ONNX exporter into a temporary file and return the loaded ModelProto."""
    import onnx
    import torch

    with tempfile.TemporaryDirectory(prefix="drape-onnx-") as tmp:
        raw = Path(tmp) / "graph.onnx"
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", category=DeprecationWarning)
                warnings.simplefilter("ignore", category=FutureWarning)
                warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
                if exporter == "torchscript":
                    torch.onnx.export(
                        module, args, str(raw), dynamo=False, opset_version=opset, input_names=list(inputs),
                        output_names=list(outputs), dynamic_axes={k: {0: "batch"} for k in (*inputs, *outputs)},
                        do_constant_folding=True,
                    )
                else:
                    warnings.filterwarnings("ignore", message=".*axis name.*")
                    batch = torch.export.Dim("batch", min=1, max=1024)
                    with contextlib.redirect_stdout(io.StringIO()):  # progress lines
                        torch.onnx.export(
                            module, args, str(raw), dynamo=True, opset_version=opset, input_names=list(inputs),
                            output_names=list(outputs), dynamic_shapes=({0: batch}, {0: batch}), external_data=False,
                            verbose=False,
                        )
        except Exception as exc:
            raise DrapeError(f"onnx export ({exporter}, opset {opset}, graph {graph}) failed: {type(exc).__name__}: {exc}") from exc
        return onnx.load(str(raw))


def export_onnx(model_or_path, out_path, *, opset: int = 17, graph: str = "network", exporter: str = "torchscript") -> Path:
    """Write a garment-dynamics model as one ONNX file (atomic replace). Returns the path.

    model_or_path: a :class:`~drape.model.dynamics.GarmentDynamicsModel` or its ``.npz`` file.
    opset: ONNX opset (>= 13). graph: ``"network"`` or ``"predict"`` (see module docs).
    exporter: ``"torchscript"`` or ``"dynamo"``.
    """
    from drape.model.dynamics import MODEL_FORMAT, MODEL_VERSION
    from drape.model.onnx_backend import GRAPH_IO, ONNX_FORMAT, ONNX_GRAPHS, runtime_metadata

    if graph not in ONNX_GRAPHS:
        raise DrapeError(f"onnx export: graph must be one of {', '.join(ONNX_GRAPHS)}, got {graph!r}")
    if exporter not in EXPORTERS:
        raise DrapeError(f"onnx export: exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}")
    if int(opset) < 13:
        raise DrapeError(f"onnx export: opset must be >= 13, got {opset}")
    try:
        import onnx
    except ImportError:
        raise DrapeError("onnx export needs the onnx package: pip install onnx") from None
    if exporter == "dynamo":
        if importlib.util.find_spec("onnxscript") is None:
            raise DrapeError("onnx export with exporter='dynamo' needs onnxscript: pip install onnxscript")
    import torch

    model, source_path = _load_model(model_or_path)
    out_path = Path(out_path)
    C, G = model.vertex_channels, model.global_channels
    H = W = model.config.image_size
    V = model.reference.vert_count
    was_training = model.net.training
    if graph == "network":
        module = model.net.eval()
        args = (torch.zeros(1, C + 1, H, W), torch.zeros(1, G))
    else:
        module = _predict_module(model)
        n = model.normalizer
        args = (torch.from_numpy(np.broadcast_to(n.vertex_mean, (1, V, C)).copy()), torch.from_numpy(n.global_mean[None].copy()))
    inputs, outputs = GRAPH_IO[graph]
    try:
        proto = _run_exporter(module, args, inputs, outputs, opset=int(opset), graph=graph, exporter=exporter)
    finally:
        model.net.train(was_training)
    meta = runtime_metadata(model, graph, model.raster_map, source={"path": source_path, "format": MODEL_FORMAT, "version": MODEL_VERSION})
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.doc_string = (
        f"drape garment-dynamics model for garment {model.reference.name!r} ({V} vertices, {model.reference.bone_count} bones), "
        f"graph {graph!r}; load with drape.model.onnx_backend.OnnxGarmentDynamics ({ONNX_FORMAT})"
    )
    proto.producer_name = "drape"
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise DrapeError(f"onnx export: the exported graph fails the ONNX checker: {exc}") from exc
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out_path.with_name(out_path.name + ".tmp")
    with open(tmp_out, "wb") as fh:
        fh.write(proto.SerializeToString())
    os.replace(tmp_out, out_path)
    return out_path


def verify_onnx(model_or_path, onnx_path, *, samples: int = 2, seed: int = 0, threads: int = 1) -> float:
    """Max abs difference (metres) of the predicted offset change between torch and the ONNX file.

    Inputs are random raw features drawn around the model's normaliser (mean + std * N(0, 1)),
    ``samples`` of them in one batch.
    """
    import torch

    from drape.model.onnx_backend import OnnxGarmentDynamics

    model, _ = _load_model(model_or_path)
    ox = OnnxGarmentDynamics.load(onnx_path, threads=threads)
    if ox.reference.vert_count != model.reference.vert_count or ox.config != model.config:
        raise DrapeError(f"{onnx_path}: was exported from a different model (garment or config differs)")
    rng = np.random.default_rng(seed)
    n = model.normalizer
    V, C, G = model.reference.vert_count, model.vertex_channels, model.global_channels
    vf = (n.vertex_mean + n.vertex_std * rng.standard_normal((samples, V, C))).astype(np.float32)
    gf = (n.global_mean + n.global_std * rng.standard_normal((samples, G))).astype(np.float32)
    with torch.inference_mode():
        want = model.predict_delta(torch.from_numpy(vf), torch.from_numpy(gf)).numpy()
    got = ox.predict_delta(vf, gf)
    return float(np.abs(want - got).max())
