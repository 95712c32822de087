"""``drape garments``: list the garment library, or build one and write it for inspection."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "garments",
        help="list the garment library; --make NAME --out FILE builds one",
        description="List the garment library (name, kind, default vertex count, description). With --make, "
        "build a garment sized to a body and write it as OBJ (with atlas UVs) or as drape's .npz.",
    )
    p.add_argument("--make", metavar="NAME", help="library garment to build (see the list)")
    p.add_argument("--import", dest="import_path", metavar="FILE",
                   help="import a garment mesh (OBJ, glTF/GLB, USD) placed around the rest-pose body instead")
    p.add_argument("--out", metavar="FILE", help="output file: .obj (mesh + atlas UVs) or .npz (drape garment)")
    p.add_argument("--vert-count", type=int, default=None, help="target vertex count (default: the template's)")
    p.add_argument("--length", type=float, default=None, help="metres from the garment's top to the hem")
    p.add_argument("--ease", type=float, default=None, help="looseness as a fraction of body girth, e.g. 0.1")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a template parameter beyond length and ease, e.g. flare=0.5 or yoke=0.12 for the skirt "
                   "(repeatable; the list shows each template's parameters)")
    p.add_argument("--body-shape", default=None,
                   help="anny phenotype, e.g. 'gender=0.2,height=0.7', or a JSON file (default: average body)")
    p.add_argument("--units", default="auto", choices=("auto", "m", "cm", "mm"), help="units of an imported file")
    p.add_argument("--up", default="auto", choices=("auto", "z", "y"), help="up axis of an imported file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drape.garment.errors import GarmentError
    from drape.garment.templates import garment_library

    if not args.make and not args.import_path:
        rows = garment_library()
        print(f"{'name':<10} {'kind':<9} {'verts':>6}  description")
        for name, kind, desc, defaults in rows:
            extra = ", ".join(f"{k}={v}" for k, v in defaults.items() if k not in ("length", "ease", "vert_count"))
            print(f"{name:<10} {kind:<9} {defaults.get('vert_count', ''):>6}  {desc}" + (f" ({extra})" if extra else ""))
        return 0
    if not args.out:
        raise GarmentError("--out FILE is required with --make or --import")
    from pathlib import Path

    from drape.garment.io import import_garment, save_garment, write_obj
    from drape.types import BodyShape

    shape = BodyShape.parse(args.body_shape)
    out = Path(args.out)
    if out.suffix.lower() not in (".obj", ".npz"):
        raise GarmentError(f"--out {out}: expected a .obj or .npz file name")
    if args.make:
        from drape.garment.templates import make_garment

        defaults = {n: d for n, _, _, d in garment_library()}
        vc = args.vert_count if args.vert_count is not None else defaults.get(args.make, {}).get("vert_count", 4500)
        g = make_garment(args.make, body_shape=shape, vert_count=vc, length=args.length, ease=args.ease,
                         **_template_params(args.param))
    else:
        g = import_garment(args.import_path, body_shape=shape, units=args.units, up=args.up)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".obj":
        write_obj(g, out)
    else:
        save_garment(g, out)
    print(f"{g.name} ({g.kind}): {g.vert_count} vertices, {len(g.faces)} triangles, {len(g.pinned)} pinned -> {out}")
    return 0


def _template_params(items: list[str]) -> dict[str, float]:
    """``KEY=VALUE`` strings -> {key: float}; a clear error for anything else."""
    from drape.garment.errors import GarmentError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise GarmentError(f"--param {item!r}: expected KEY=NUMBER, e.g. flare=0.5") from None
    return out
