"""The core imports without napari or Qt, and setup.cfg lists every package."""

import configparser
import subprocess
import sys
from pathlib import Path

import setuptools

ROOT = Path(__file__).resolve().parents[2]


def test_core_imports_no_gui_toolkit():
    code = (
        "import sys, unet_core, unet_core.cli, unet_core.batch\n"
        "bad = [m for m in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'magicgui')"
        " if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_setup_cfg_lists_every_core_package():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {f"unet_core.{p}" for p in setuptools.find_packages(ROOT / "src" / "unet_core")}
    found |= {"unet_core", "napari_unet", "napari_unet.sample_data"}
    found |= {f"napari_unet.{p}" for p in setuptools.find_packages(ROOT / "napari_unet")}
    assert found <= listed, f"missing from setup.cfg: {sorted(found - listed)}"


def test_segmenting_imports_neither_dynamo_nor_scipy_stats():
    """Loading a model and segmenting must not wait for torch._dynamo (about 1 s: building a
    network on the meta device used to draw random weights, which imports it) or scipy.stats
    (0.3 s, only to score against ground truth)."""
    code = (
        "import sys\n"
        "from unet_core.cli import main\n"
        f"main(['segment', {str(ROOT / 'sample_data' / 'fundus_retina.jpg')!r}, '--model', "
        "'drive', '--out', sys.argv[1], '--no-measure'])\n"
        "print('loaded:', [m for m in ('torch._dynamo', 'scipy.stats') if m in sys.modules])"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run([sys.executable, "-c", code, out], capture_output=True,
                                text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "loaded: []"
