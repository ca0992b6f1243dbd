"""``napari-unet --version``: the distribution's name and version, and torch's."""

from __future__ import annotations

import argparse

#: the distribution that installs ``unet_core``, ``napari_unet`` and the command
DISTRIBUTION = "napari-paint-unet"


def _installed(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def version_text() -> str:
    """``napari-paint-unet 0.1.0 (torch 2.13.0+cpu)``: from the installed distribution's
    metadata, else (a source checkout run without installing) the package's ``__version__``;
    torch's from its metadata too, so that asking does not import torch."""
    from . import __version__

    torch = _installed("torch")
    ours = _installed(DISTRIBUTION) or __version__
    return f"{DISTRIBUTION} {ours} (torch {torch or 'not installed'})"


class VersionAction(argparse.Action):
    """``--version``: print :func:`version_text` and exit 0 (worked out only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        kwargs.setdefault("help", "print the version of napari-paint-unet and of torch, and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()
