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
