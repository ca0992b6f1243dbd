"""``napari-unet --version``: the distribution's name and version, and torch's."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

import napari_unet
import unet_core
from unet_core import cli_version
from unet_core.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_the_distribution_and_torch(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out == f"napari-paint-unet {version('napari-paint-unet')} (torch {version('torch')})"


def test_version_falls_back_to_the_package_when_not_installed(monkeypatch):
    real = cli_version._installed
    monkeypatch.setattr(cli_version, "_installed",
                        lambda name: None if name == "napari-paint-unet" else real(name))
    assert cli_version.version_text().startswith(f"napari-paint-unet {unet_core.__version__} (")


def test_the_versions_in_the_source_agree():
    """The fallback is the core's ``__version__``: it, the plugin's and setup.cfg's are one."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["name"] == cli_version.DISTRIBUTION == napari_unet.PLUGIN
    assert unet_core.__version__ == napari_unet.__version__ == cfg["metadata"]["version"]


def test_the_command_answers_without_importing_torch():
    code = ("import sys; from unet_core.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit as e:\n"
            "    print('torch' in sys.modules, e.code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    lines = result.stdout.splitlines()
    assert lines[0].startswith("napari-paint-unet ") and "(torch " in lines[0]
    assert lines[1] == "False 0", result.stderr


def _synopsis(path: Path) -> str:
    """The first ``bash`` block of ``path`` that runs napari-unet."""
    text = path.read_text(encoding="utf-8")
    blocks = text.split("```bash\n")[1:]
    return next(b.split("```")[0] for b in blocks if "napari-unet " in b)


@pytest.mark.parametrize("doc", ["README.md", "docs/command-line.md"])
def test_the_synopsis_lists_every_command_and_the_true_defaults(doc):
    import argparse

    from unet_core.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    synopsis = _synopsis(ROOT / doc)
    listed = {line.split()[1] for line in synopsis.splitlines() if line.startswith("napari-unet")}
    assert listed == set(sub.choices) | {"--version"}
    segment = sub.choices["segment"].parse_args(["x", "--out", "o"])
    assert segment.model == "drive" and "--model drive|drive-av|em|FILE" in synopsis
    assert sub.choices["export"].parse_args(["m", "--out", "f"]).to == "onnx"
    assert "[--to onnx|torchscript|bioimageio]" in synopsis
