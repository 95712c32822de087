"""Frozen-dataclass configs that become command-line options.

Each field carries its help text in ``field(metadata={"help": ...})``; that text is
the option's ``--help``. Every option has one home: the dataclass.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def opt(default: Any, help: str, **kw) -> Any:
    """A config field with help text (and an optional ``choices=`` list)."""
    return dataclasses.field(default=default, metadata={"help": help, **kw})


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *, prefix: str = "") -> None:
    """Add one ``--option`` per field of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = "--" + prefix + f.name.replace("_", "-")
        typ = hints[f.name]
        origin = typing.get_origin(typ)
        args = typing.get_args(typ)
        if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
            non_none = [a for a in args if a is not type(None)]
            typ = non_none[0] if non_none else str
        help_text = f.metadata.get("help", "")
        kw: dict[str, Any] = {"dest": prefix.replace("-", "_") + f.name, "default": f.default, "help": f"{help_text} (default: {f.default})"}
        if "choices" in f.metadata:
            kw["choices"] = f.metadata["choices"]
        if typ is bool:
            parser.add_argument(name, action=argparse.BooleanOptionalAction, **kw)
        else:
            parser.add_argument(name, type=typ, **kw)


def config_from_args(cls: type[T], args: argparse.Namespace, *, prefix: str = "") -> T:
    """Build the dataclass ``cls`` from parsed arguments added by :func:`add_config_arguments`."""
    values = {f.name: getattr(args, prefix.replace("-", "_") + f.name) for f in dataclasses.fields(cls)}
    return cls(**values)
