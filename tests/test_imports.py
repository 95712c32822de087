import subprocess
import sys


def test_import_drape_is_light():
    code = (
        "import sys, drape, drape.types, drape.config, drape.cache, drape.body, drape.cli.main;"
        "heavy = [m for m in ('torch', 'newton', 'warp', 'anny', 'onnxruntime', 'fastapi', 'pxr', 'pygltflib')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported by 'import drape': {out.stdout.strip()}"


def test_cli_help_lists_subcommands():
    from drape.cli.main import build_parser

    text = build_parser().format_help()
    assert "demo" in text
