"""``drape view``: play exported avatar GLB files in a web browser.

Serves a page (three.js, bundled) that plays the avatars in ``DIR`` -- the skinned body,
its skeleton animation and the morph-target garment together -- with play/pause, a frame
slider and orbit controls (drag: rotate, right-drag: pan, wheel: zoom; keys: space,
left/right arrows, Home/End). With several ``.glb`` files a picker chooses one.

The server listens on the loopback address by default, so only this machine can reach it;
``--host 0.0.0.0`` shares the files with the network. Stop it with Ctrl-C.

Example::

    drape view out/demo --open
    drape view out/demo --port 0        # any free port
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "view",
        help="play exported avatar GLB files in a web browser",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="folder holding .glb files (sub-folders are searched too)")
    p.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one (default: 8000)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from drape.serve.viewer import is_loopback, list_glbs, make_server

    server = make_server(args.dir, host=args.host, port=args.port, verbose=args.verbose)
    try:
        names = [g.name for g in list_glbs(args.dir)]
        shown = ", ".join(names[:5]) + (f", ... ({len(names)} files)" if len(names) > 5 else "")
        print(f"drape view: serving {shown} from {args.dir}")
        print(f"drape view: open {server.url}  (Ctrl-C stops)", flush=True)
        if not is_loopback(args.host):
            print(f"drape view: warning: listening on {args.host}, other machines can fetch these files", file=sys.stderr)
        if args.open:
            import webbrowser

            webbrowser.open(server.url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("drape view: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
