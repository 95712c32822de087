"""drape view's HTTP server: what it serves, what it refuses (no browser needed)."""

import http.client
import json
import re
import socket
from pathlib import Path

import pytest

from drape.serve.viewer import ASSETS_DIR, BackgroundServer, ViewerError, list_glbs, make_server

GLB_BYTES = b"glTF\x02\x00\x00\x00" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("viewer")
    root = tmp_path / "avatars"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "b.glb").write_bytes(GLB_BYTES)
    (root / "a.glb").write_bytes(GLB_BYTES[:100])
    (root / "sub" / "deeper" / "c.glb").write_bytes(b"glTF")
    (root / ".hidden" / "h.glb").write_bytes(b"glTF")
    (root / "notes.txt").write_text("not a glb")
    (root / "half.glb.part").write_bytes(b"glTF")
    (tmp_path / "secret.glb").write_bytes(b"outside")
    (root / "link.glb").symlink_to(tmp_path / "secret.glb")
    return root


@pytest.fixture(scope="module")
def served(folder):
    with BackgroundServer(folder) as srv:
        yield srv


def get(srv, path, *, method="GET", host=None):
    """Raw request (the path is sent exactly as given); returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.server.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=host is not None, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_list_glbs_walks_subfolders_and_skips_hidden_links_and_partial_files(folder):
    names = [g.name for g in list_glbs(folder)]
    assert names == ["a.glb", "b.glb", "sub/deeper/c.glb"]
    assert [g.bytes for g in list_glbs(folder)] == [100, len(GLB_BYTES), 4]
    assert [g.name for g in list_glbs(folder, max_depth=0)] == ["a.glb", "b.glb"]


def test_serves_index_and_viewer_assets(served):
    status, headers, body = get(served, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert body == (ASSETS_DIR / "index.html").read_bytes()
    assert b'type="importmap"' in body and b"viewer.js" in body
    status, headers, _ = get(served, "/index.html?file=a.glb")
    assert status == 200
    status, headers, body = get(served, "/viewer.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    status, headers, body = get(served, "/vendor/three/three.module.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and len(body) > 100_000
    status, headers, body = get(served, "/vendor/three/LICENSE")
    assert status == 200 and b"MIT License" in body


def test_api_files_lists_the_glbs(served):
    status, headers, body = get(served, "/api/files")
    assert status == 200 and headers["Content-Type"] == "application/json"
    listing = json.loads(body)
    assert listing["format"] == "drape.viewer.files" and listing["version"] == 1
    assert listing["directory"] == "avatars"
    assert listing["files"] == [
        {"name": "a.glb", "bytes": 100},
        {"name": "b.glb", "bytes": len(GLB_BYTES)},
        {"name": "sub/deeper/c.glb", "bytes": 4},
    ]


def test_serves_glb_bytes_exactly(served):
    status, headers, body = get(served, "/files/b.glb")
    assert status == 200 and body == GLB_BYTES
    assert headers["Content-Type"] == "model/gltf-binary" and int(headers["Content-Length"]) == len(GLB_BYTES)
    assert get(served, "/files/sub/deeper/c.glb")[2] == b"glTF"
    assert get(served, "/files/sub%2Fdeeper%2Fc.glb")[0] == 200  # an encoded "/" is an ordinary separator
    status, headers, body = get(served, "/files/b.glb", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(GLB_BYTES)


@pytest.mark.parametrize("path", [
    "/../etc/passwd",
    "/../../../../etc/passwd",
    "/files/../secret.glb",
    "/files/../../secret.glb",
    "/files/sub/../../secret.glb",
    "/files/%2e%2e/secret.glb",
    "/files/%2E%2E%2Fsecret.glb",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/files/..%5csecret.glb",
    "/files/..\\secret.glb",
    "/files/./a.glb",
    "/vendor/three/../../index.html",
    "//etc/passwd",
    "/files//etc/passwd",
    "/files/%2Fetc%2Fpasswd",
    "/files/%2Ftmp%2Fsecret.glb",
    "/files/C:/Windows/win.ini",
    "/files/a.glb%00.txt",
    "/files/%ff%fe.glb",
])
def test_refuses_traversal_and_absolute_paths(served, path):
    status, _, body = get(served, path)
    assert status in (403, 404), (path, status)
    assert b"outside" not in body and b"root:" not in body


def test_traversal_is_refused_with_403(served):
    assert get(served, "/files/../secret.glb")[0] == 403
    assert get(served, "/files/%2e%2e/secret.glb")[0] == 403
    assert get(served, "/files//etc/passwd")[0] == 403


@pytest.mark.parametrize("path", [
    "/nope.html",
    "/files/missing.glb",
    "/files/notes.txt",
    "/files/half.glb.part",
    "/files/.hidden/h.glb",
    "/files/link.glb",  # a link whose target is outside the folder
    "/files",
    "/viewer.py",
    "/__init__.py",
    "/api/other",
    "/vendor/three/package.json",
])
def test_unknown_files_are_404(served, path):
    status, _, body = get(served, path)
    assert status == 404, (path, status)
    assert b"outside" not in body


def test_foreign_host_header_is_refused_on_loopback(served):
    port = served.server.port
    assert get(served, "/api/files", host=f"localhost:{port}")[0] == 200
    assert get(served, "/api/files", host=f"127.0.0.1:{port}")[0] == 200
    assert get(served, "/api/files", host=f"[::1]:{port}")[0] == 200
    assert get(served, "/api/files", host="attacker.example")[0] == 403
    assert get(served, "/files/a.glb", host=f"attacker.example:{port}")[0] == 403


def test_make_server_errors(folder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ViewerError, match=r"no \.glb file in .*empty"):
        make_server(empty, port=0)
    with pytest.raises(ViewerError, match="not a folder"):
        make_server(folder / "a.glb", port=0)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        with pytest.raises(ViewerError, match=f"port {busy.getsockname()[1]} .*already in use"):
            make_server(folder, port=busy.getsockname()[1])
    finally:
        busy.close()


def test_cli_view_without_glb_is_a_clear_error(tmp_path, capsys):
    from drape.cli.main import build_parser, main

    assert "view" in build_parser().format_help()
    assert main(["view", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("drape view: error: no .glb file in") and str(tmp_path) in err


def test_vendored_three_is_complete():
    """Every module the page imports, and every relative import inside them, is vendored."""
    vendor = ASSETS_DIR / "vendor" / "three"
    assert "MIT License" in (vendor / "LICENSE").read_text()
    version = (vendor / "VERSION").read_text().strip()
    assert re.fullmatch(r"0\.\d+\.\d+", version)
    assert f"'{version.split('.')[1]}'" in (vendor / "three.core.js").read_text()[:2000]  # REVISION

    index = (ASSETS_DIR / "index.html").read_text()
    imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', index, re.S).group(1))["imports"]
    assert (ASSETS_DIR / imports["three"]).is_file()
    assert (ASSETS_DIR / imports["three/addons/"]).is_dir()

    def resolve(spec: str, importer: Path) -> Path:
        if spec == "three":
            return ASSETS_DIR / imports["three"]
        if spec.startswith("three/addons/"):
            return ASSETS_DIR / imports["three/addons/"] / spec[len("three/addons/"):]
        assert spec.startswith("."), f"{importer.name} imports {spec!r}, which the import map does not cover"
        return (importer.parent / spec).resolve()

    pending, seen = [ASSETS_DIR / "viewer.js"], set()
    while pending:
        mod = pending.pop()
        if mod in seen:
            continue
        seen.add(mod)
        assert mod.is_file(), f"missing module {mod}"
        text = mod.read_text()
        for spec in re.findall(r"^\s*(?:import|export)\b[^;]*?\bfrom\s*'([^']+)'", text, re.M | re.S):
            pending.append(resolve(spec, mod))
    names = {p.name for p in seen}
    assert {"viewer.js", "three.module.js", "three.core.js", "GLTFLoader.js", "OrbitControls.js"} <= names
