"""``drape`` console script: dispatches to one module per subcommand.

Each subcommand module defines ``register(subparsers)`` which adds its parser and
sets ``func`` to a callable taking the parsed ``argparse.Namespace`` and returning
an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from drape.types import DrapeError

SUBCOMMANDS = ("demo", "motions", "garments", "simulate", "dataset", "view", "train", "eval", "export", "animate", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drape", description="Dress animated virtual humans in moving clothes.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"drape.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"drape.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DrapeError as exc:
        print(f"drape {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"drape {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
