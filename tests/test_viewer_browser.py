"""drape view end to end: headless Chromium loads an exported GLB and draws body and garment.

Needs a Chromium (Debian: ``apt-get install chromium``; ``scripts/ci_setup.sh`` installs it);
skipped when none is found. ``DRAPE_CHROMIUM`` may name the executable. WebGL runs on
SwiftShader (ANGLE's CPU renderer), so no GPU is needed.
"""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

BACKGROUND = np.array([0xD9, 0xDC, 0xE1])
FRAMES = 6


def find_chromium() -> str | None:
    for name in (os.environ.get("DRAPE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def capture(chromium: str, url: str, png, profile) -> str:
    """Screenshot ``url`` at 800x600 into ``png``; returns the DOM after the page settled."""
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}",
        "--window-size=800,600", "--virtual-time-budget=4000", f"--screenshot={png}", "--dump-dom", url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert png.is_file(), f"chromium wrote no screenshot (rc {out.returncode}):\n{out.stderr[-3000:]}"
    return out.stdout


def dom_state(dom: str) -> dict:
    tag = re.search(r"<html[^>]*>", dom)
    assert tag, f"no <html> tag in the dumped DOM:\n{dom[:500]}"
    return dict(re.findall(r'data-drape-([a-z-]+)="([^"]*)"', tag.group(0)))


def classify(png):
    """Masks over the 3D view (UI bar cut off): not background, body skin, garment blue."""
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=np.int32)[:550]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    differs = np.abs(rgb - BACKGROUND).sum(-1) > 30
    body = (r > 120) & (r - b > 25) & (r >= g) & (g >= b)  # BODY_COLOR (0.80, 0.62, 0.52): warm
    garment = (b - r > 40) & (b > 100)  # GARMENT_COLOR (0.20, 0.36, 0.72): blue
    return rgb, differs, body, garment


@pytest.fixture(scope="module")
def chromium():
    exe = find_chromium()
    if exe is None:
        pytest.skip("no chromium found (install with scripts/ci_setup.sh or apt-get install chromium)")
    return exe


def test_viewer_draws_body_and_garment_and_scrubs(chromium, body, tmp_path):
    from drape.export import export_glb
    from drape.export.sample import synthetic_sequence
    from drape.serve.viewer import BackgroundServer

    # At 1.5 fps the avatar walks 4 m forward (1.2 m/s) by the last frame: the camera must follow it.
    seq = synthetic_sequence(body, frame_count=FRAMES, fps=1.5)
    # Two garment chunks, so the STEP scale animation switching chunks is exercised too.
    export_glb(tmp_path / "glbs" / "avatar.glb", seq, body, morph_chunk_frames=4)

    shots = {}
    with BackgroundServer(tmp_path / "glbs") as srv:
        for frame in (0, FRAMES - 1):
            png = tmp_path / f"frame{frame}.png"
            dom = capture(chromium, f"{srv.url}?frame={frame}&autoplay=0", png, tmp_path / f"profile{frame}")
            state = dom_state(dom)
            assert state.get("state") == "ready", f"viewer not ready: {state}"
            assert state["frame"] == str(frame) and state["frame-count"] == str(FRAMES), state
            shots[frame] = png

    out_dir = os.environ.get("DRAPE_TEST_OUT")
    if out_dir:  # keep the screenshots for a look
        for frame, png in shots.items():
            shutil.copy(png, os.path.join(out_dir, f"viewer_frame{frame}.png"))

    masks = {}
    for frame, png in shots.items():
        rgb, differs, body_px, garment_px = classify(png)
        h, w = differs.shape
        centre = differs[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
        assert np.all(np.abs(rgb[5, 5] - BACKGROUND) <= 3), f"frame {frame}: corner is {rgb[5, 5]}, not the background"
        assert centre.mean() > 0.08, f"frame {frame}: only {centre.mean():.1%} of the centre differs from the background"
        assert body_px.sum() > 4000, f"frame {frame}: {body_px.sum()} body-coloured pixels"
        assert garment_px.sum() > 3000, f"frame {frame}: {garment_px.sum()} garment-coloured pixels"
        # The garment sits on the body: around the hips, within the body's extent.
        by, bx = np.nonzero(body_px)
        gy, gx = np.nonzero(garment_px)
        assert bx.min() < gx.mean() < bx.max() and by.min() < gy.mean() < by.max()
        assert by.min() < gy.min() and gy.max() < by.max()
        masks[frame] = body_px | garment_px
    # Scrubbing to another frame moves the avatar (the legs swing).
    moved = (masks[0] ^ masks[FRAMES - 1]).sum()
    assert moved > 500, f"frames 0 and {FRAMES - 1} differ in only {moved} pixels"


def test_viewer_reports_a_broken_file_and_lists_the_others(chromium, tmp_path):
    from drape.serve.viewer import BackgroundServer

    folder = tmp_path / "glbs"
    (folder / "more").mkdir(parents=True)
    (folder / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00 this is not a GLB")
    (folder / "more" / "other.glb").write_bytes(b"not a GLB either")
    with BackgroundServer(folder) as srv:
        dom = capture(chromium, f"{srv.url}?file=broken.glb", tmp_path / "broken.png", tmp_path / "profile")
    state = dom_state(dom)
    assert state.get("state") == "error", state
    assert state["error"].startswith("Could not load broken.glb"), state["error"]
    # The message is shown on the page, and the picker offers both files.
    assert re.search(r'<div id="message" class="error">Could not load broken.glb', dom)
    assert re.findall(r'<option value="([^"]+)"', dom) == ["broken.glb", "more/other.glb"]
