"""``drape export``: convert drape outputs for other runtimes and tools.

Subcommands:

* ``drape export onnx --model MODEL.npz --out MODEL.onnx``: the garment-dynamics model as one
  ONNX file for the torch-free backend (:class:`drape.model.onnx_backend.OnnxGarmentDynamics`,
  numpy + onnxruntime). The garment reference, normaliser and UV raster map ride along in the
  file's metadata. By default the export is checked against the torch model on random
  features (``--no-verify`` skips it).

Fast setting for tests: a model from ``drape train --data synthetic ... --steps 6`` (126 vertices).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from drape.types import DrapeError

VERIFY_TOLERANCE_M = 1e-5


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a trained model (onnx) for other runtimes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="export_format", metavar="FORMAT")
    _register_onnx(sub)
    p.set_defaults(func=run, _export_parser=p)


def _register_onnx(sub) -> None:
    p = sub.add_parser(
        "onnx",
        help="garment-dynamics model -> one .onnx file (torch-free inference with onnxruntime)",
        description="Export a garment-dynamics model (.npz from 'drape train') to one ONNX file that "
        "drape.model.onnx_backend.OnnxGarmentDynamics runs with numpy and onnxruntime only.",
    )
    p.add_argument("--model", required=True, help="model file from 'drape train' (.npz)")
    p.add_argument("--out", required=True, help="ONNX file to write (.onnx)")
    p.add_argument("--graph", choices=("network", "predict"), default="network",
                   help="network: the CNN only, numpy does the UV gathers (fastest); "
                   "predict: normalisation, UV gathers and the CNN in one graph (default: network)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    p.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                   help="torch exporter: torchscript (needs onnx) or dynamo (also needs onnxscript) (default: torchscript)")
    p.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                   help=f"compare the ONNX prediction with torch on random features; fail above {VERIFY_TOLERANCE_M * 1e3:g} mm (default: yes)")
    p.set_defaults(func=run_onnx)


def run(args: argparse.Namespace) -> int:
    args._export_parser.print_help()
    return 2


def run_onnx(args: argparse.Namespace) -> int:
    from drape.export.onnx import export_onnx, verify_onnx
    from drape.model.dynamics import GarmentDynamicsModel

    model_path = Path(args.model)
    out = Path(args.out)
    if out.suffix.lower() != ".onnx":
        raise DrapeError(f"--out {out}: expected an .onnx file name")
    if model_path.suffix.lower() == ".onnx":
        raise DrapeError(f"--model {model_path}: is already an ONNX file; pass the .npz model from 'drape train'")
    if not model_path.is_file():
        raise DrapeError(f"--model {model_path}: no such file (expected a .npz model from 'drape train')")
    model = GarmentDynamicsModel.load(model_path)
    path = export_onnx(model, out, opset=args.opset, graph=args.graph, exporter=args.exporter)
    ref = model.reference
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): garment {ref.name!r}, {ref.vert_count} vertices, "
          f"{ref.bone_count} bones, image {model.config.image_size}px, graph {args.graph}, opset {args.opset}")
    if args.verify:
        dev = verify_onnx(model, path)
        if not dev <= VERIFY_TOLERANCE_M:
            raise DrapeError(f"{path}: ONNX prediction differs from torch by {dev * 1e3:.3g} mm (tolerance {VERIFY_TOLERANCE_M * 1e3:g} mm)")
        print(f"verified: max |offset change| difference to torch {dev * 1e3:.2e} mm on random features")
    return 0
