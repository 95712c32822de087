"""Web viewer for exported avatars: a small static HTTP server for a folder of GLB files.

The server (standard library :class:`http.server.ThreadingHTTPServer`) answers only:

* ``/`` and the viewer's own files (``index.html``, ``viewer.js``, ``viewer.css`` and the
  vendored three.js modules under ``/vendor/three/``), a fixed list made when the server starts;
* ``/api/files``: JSON ``{"format": "drape.viewer.files", "version": 1, "directory": NAME,
  "files": [{"name": "a/b.glb", "bytes": 123}, ...]}``, the ``.glb`` files under the
  served folder (sub-folders included, hidden ones skipped, names relative with ``/``);
* ``/files/NAME.glb``: one of those files.

Anything else is 404; a path with ``..``, ``.``, empty segments, backslashes or NUL
characters (also percent-encoded) is refused with 403 before the file system is touched,
and a GLB whose real path (symlinks resolved) leaves the folder is 404. When the server is
bound to a loopback address it also refuses (403) requests whose ``Host`` header names
another machine, so that web pages from elsewhere cannot reach it by DNS rebinding.

The page plays every animation of the file together (three.js ``AnimationMixer``), with
play/pause, a frame slider and orbit controls; see ``viewer_assets/viewer.js``.
"""

from __future__ import annotations

import errno
import json
import mimetypes
import os
import shutil
import socket
import sys
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from drape.types import DrapeError

FILES_FORMAT = "drape.viewer.files"
"""Format name of the ``/api/files`` answer."""
FILES_FORMAT_VERSION = 1

ASSETS_DIR = Path(__file__).resolve().parent / "viewer_assets"
"""Folder holding ``index.html``, ``viewer.js`` and ``vendor/three/``."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

_MAX_LIST_DEPTH = 4
"""Sub-folder levels searched for GLB files below the served folder."""

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".glb": "model/gltf-binary",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class ViewerError(DrapeError):
    """Bad input to the viewer (folder without GLB files, port in use, ...)."""


@dataclass(frozen=True)
class GlbFile:
    """One GLB file the viewer offers."""

    name: str
    """Path relative to the served folder, ``/``-separated."""
    path: Path
    bytes: int


def list_glbs(directory, *, max_depth: int = _MAX_LIST_DEPTH) -> list[GlbFile]:
    """The ``.glb`` files under ``directory``, sorted by name.

    Searches ``max_depth`` levels of sub-folders, skips names starting with ``.``, and
    skips links whose target lies outside ``directory``.
    """
    root = Path(directory)
    real_root = root.resolve()
    found: list[GlbFile] = []

    def walk(folder: Path, prefix: str, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    if depth < max_depth:
                        walk(Path(entry.path), f"{prefix}{entry.name}/", depth + 1)
                elif entry.is_file() and entry.name.lower().endswith(".glb"):
                    real = Path(entry.path).resolve()
                    if real.is_relative_to(real_root):
                        found.append(GlbFile(name=prefix + entry.name, path=Path(entry.path), bytes=entry.stat().st_size))
            except OSError:
                continue

    walk(root, "", 0)
    found.sort(key=lambda g: g.name)
    return found


def asset_table(assets_dir: Path = ASSETS_DIR) -> dict[str, Path]:
    """URL path (``/index.html``, ``/vendor/three/build/three.module.js``, ...) -> file, for every viewer asset."""
    table: dict[str, Path] = {}
    for p in sorted(Path(assets_dir).rglob("*")):
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(assets_dir).parts):
            table["/" + p.relative_to(assets_dir).as_posix()] = p
    if "/index.html" not in table:
        raise ViewerError(f"viewer assets are incomplete: expected {Path(assets_dir) / 'index.html'}, which is missing")
    table["/"] = table["/index.html"]
    return table


def _safe_segments(raw_path: str) -> list[str] | None:
    """Decoded, checked path segments of a request path, or None when it tries to leave its folder."""
    decoded = unquote(raw_path, errors="strict") if "%" in raw_path else raw_path
    if not decoded.startswith("/") or decoded.startswith("//"):
        return None
    if "\\" in decoded or "\0" in decoded:
        return None
    segments = decoded[1:].split("/")
    if decoded == "/":
        return []
    for s in segments:
        if s in ("", ".", "..") or ":" in s:
            return None
    return segments


class _Handler(BaseHTTPRequestHandler):
    server: "ViewerServer"
    server_version = "drape-viewer"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._answer(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature of the base class)
        if self.server.verbose:
            sys.stderr.write(f"drape view: {self.address_string()} {format % args}\n")

    # ---- routing

    def _answer(self, *, head: bool) -> None:
        if not self._host_allowed():
            self._error(HTTPStatus.FORBIDDEN, "unexpected Host header", head=head)
            return
        # The query is cut off by hand: urlsplit would read "//name/..." as a host name.
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        try:
            segments = _safe_segments(path)
        except UnicodeDecodeError:
            segments = None
        if segments is None:
            self._error(HTTPStatus.FORBIDDEN, "path refused", head=head)
            return
        url = "/" + "/".join(segments)
        if url == "/api/files":
            self._send_json(self.server.files_listing(), head=head)
            return
        if segments and segments[0] == "files":
            glb = self.server.find_glb("/".join(segments[1:]))
            if glb is None:
                self._error(HTTPStatus.NOT_FOUND, "no such GLB file", head=head)
            else:
                self._send_file(glb, head=head)
            return
        asset = self.server.assets.get(url)
        if asset is None:
            self._error(HTTPStatus.NOT_FOUND, "not found", head=head)
            return
        self._send_file(asset, head=head)

    def _host_allowed(self) -> bool:
        if not self.server.loopback_only:
            return True
        host = self.headers.get("Host")
        if host is None:
            return True
        name = host.strip().lower()
        if name.startswith("["):
            name = name[1:].split("]", 1)[0]
        elif name.count(":") == 1:
            name = name.split(":", 1)[0]
        return name in _LOOPBACK_NAMES or name == self.server.bind_host.lower()

    # ---- responses

    def _send_file(self, path: Path, *, head: bool) -> None:
        try:
            fh = open(path, "rb")
        except OSError:
            self._error(HTTPStatus.NOT_FOUND, "not found", head=head)
            return
        with fh:
            size = os.fstat(fh.fileno()).st_size
            ctype = _CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if path.name in ("LICENSE", "VERSION"):
                ctype = "text/plain; charset=utf-8"
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if not head:
                try:
                    shutil.copyfileobj(fh, self.wfile, 1 << 20)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

    def _send_json(self, obj, *, head: bool) -> None:
        body = json.dumps(obj).encode("utf-8")
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str, *, head: bool) -> None:
        body = f"{int(status)} {status.phrase}: {message}\n".encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class ViewerServer(ThreadingHTTPServer):
    """HTTP server for the viewer page and the GLB files under ``directory``.

    ``server_address`` holds the bound (host, port); port 0 picks a free port. Use
    :attr:`url` for the page's address. Stop with ``shutdown()`` (from another thread)
    and ``server_close()``.
    """

    daemon_threads = True

    def __init__(self, directory, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, verbose: bool = False) -> None:
        self.directory = Path(directory)
        self.real_directory = self.directory.resolve()
        self.bind_host = host
        self.loopback_only = is_loopback(host)
        self.verbose = verbose
        self.assets = asset_table()
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.bind_host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    def files_listing(self) -> dict:
        return {
            "format": FILES_FORMAT,
            "version": FILES_FORMAT_VERSION,
            "directory": self.real_directory.name,
            "files": [{"name": g.name, "bytes": g.bytes} for g in list_glbs(self.directory)],
        }

    def find_glb(self, name: str) -> Path | None:
        """The file for ``/files/NAME``, or None unless NAME is a GLB inside the folder."""
        if not name.lower().endswith(".glb"):
            return None
        candidate = self.directory.joinpath(*name.split("/"))
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(self.real_directory) or not real.is_file():
            return None
        if any(part.startswith(".") for part in name.split("/")):
            return None
        return real


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(directory, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, verbose: bool = False) -> ViewerServer:
    """Bind a :class:`ViewerServer` for ``directory`` (not yet serving; call ``serve_forever()``).

    Raises :class:`ViewerError` when ``directory`` is not a folder, holds no ``.glb`` file,
    or the address cannot be bound (port in use, unknown host).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ViewerError(f"{directory} is not a folder; expected a folder holding .glb files (from drape export)")
    if not list_glbs(directory):
        raise ViewerError(
            f"no .glb file in {directory} (searched {_MAX_LIST_DEPTH} folder levels); "
            "export one first, e.g. drape.export.export_glb(path, seq, body)"
        )
    if not (0 <= int(port) <= 65535):
        raise ViewerError(f"port must be in 0..65535, got {port}")
    try:
        return ViewerServer(directory, host=host, port=int(port), verbose=verbose)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ViewerError(f"port {port} on {host} is already in use; pass another --port (0 picks a free one)") from exc
        raise ViewerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


class BackgroundServer:
    """A :class:`ViewerServer` serving from a daemon thread; a context manager (stops on exit)."""

    def __init__(self, directory, *, host: str = DEFAULT_HOST, port: int = 0, verbose: bool = False) -> None:
        self.server = make_server(directory, host=host, port=port, verbose=verbose)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="drape-viewer", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "BackgroundServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
