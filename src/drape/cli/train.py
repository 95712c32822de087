"""``drape train``: fit the garment-dynamics model to simulated sequences.

Reads a dataset folder written by ``drape dataset build`` (the sequences of one garment on
one body shape), holds out the motions named in ``--val-motions`` for validation rollouts,
and writes ``--out NAME.npz`` (one file: network, normaliser and garment reference) plus
``NAME.ckpt`` (checkpoint; rerun the same command to resume after a kill), ``NAME.best.npz``,
``NAME.last.npz``, ``NAME.loss.png`` and ``NAME.train.json`` next to it.

Defaults suit a ~5k-vertex garment: 10,000 steps of batch 4 with a 1->4 frame unroll
curriculum take about 0.27 s/step on one CPU thread (about 45 minutes).

Example::

    drape train --data datasets/v1 --garment tshirt --out models/tshirt.npz \\
        --val-motions walk_forward,dance_b --steps 20000

Fast setting for tests: ``--data synthetic --garment prism --steps 6 --batch-size 2
--unroll 2 --image-size 32 --widths 16,32 --film-hidden 32 --val-motions synth3 --val-frames 8``
(a 126-vertex synthetic garment on a two-bone rig; no simulator or body model needed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from drape.config import add_config_arguments, config_from_args
from drape.types import DrapeError

SYNTHETIC = "synthetic"


def register(subparsers) -> None:
    from drape.model.dynamics import ModelConfig
    from drape.train.trainer import TrainConfig

    p = subparsers.add_parser(
        "train",
        help="train the garment-dynamics model on simulated sequences",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help=f"dataset folder from 'drape dataset build' ('{SYNTHETIC}': a tiny synthetic set)")
    p.add_argument("--garment", required=True, help="garment name in the dataset ('prism' for --data synthetic)")
    p.add_argument("--out", required=True, help="model file to write (.npz)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue from MODEL.ckpt when it exists (default: yes)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this step without writing the model (checkpoint only)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    g = p.add_argument_group("training")
    add_config_arguments(g, TrainConfig)
    m = p.add_argument_group("model")
    add_config_arguments(m, ModelConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drape.model.dynamics import ModelConfig
    from drape.train.trainer import TrainConfig, train

    config = config_from_args(TrainConfig, args)
    model_config = config_from_args(ModelConfig, args)
    if config.init_model:
        if model_config != ModelConfig():
            raise DrapeError("--init-model keeps that model's architecture: drop the model options "
                             f"({', '.join(sorted(k for k, v in vars(model_config).items() if v != getattr(ModelConfig(), k)))})")
        model_config = None
    if args.data == SYNTHETIC:
        from drape.data.windows import synthetic_training_data

        data = synthetic_training_data()
        if args.garment != data.reference.name:
            raise DrapeError(f"--data {SYNTHETIC} has the garment '{data.reference.name}', not {args.garment!r}")
    else:
        data = Path(args.data)
        if not data.is_dir():
            raise DrapeError(f"--data {data}: no such folder (expected a 'drape dataset build' output folder)")
        from drape.cache import configure

        configure()
    out = Path(args.out)
    if out.suffix != ".npz":
        raise DrapeError(f"--out {out}: expected a .npz model file name")
    result = train(config, data, args.garment, out, model_config=model_config, resume=args.resume,
                   progress=args.progress, max_steps=args.max_steps)
    if not result.finished:
        print(f"stopped at step {result.step} of {config.steps} (checkpoint kept; rerun to resume)")
    return 0
