"""File > Open Sample > napari-unet: a fundus photograph and an EM slice (see sample_data/)."""

from __future__ import annotations

from pathlib import Path

FUNDUS = "fundus_retina.jpg"
EM = "em_isbi2012_test00_crop.png"


def sample_dir() -> Path:
    """``sample_data`` next to this module (installed wheel), else at the repository root."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sample_data", here.parent / "sample_data"):
        if (candidate / FUNDUS).is_file():
            return candidate
    raise FileNotFoundError("the napari-unet sample images are not installed")


def _read(name: str):
    from unet_core.data.io import read_image

    return read_image(sample_dir() / name)


def fundus_sample() -> list[tuple]:
    """Colour fundus photograph of a normal left eye (Häggström 2014, CC0)."""
    return [(_read(FUNDUS), {"name": "fundus", "rgb": True}, "image")]


def em_sample() -> list[tuple]:
    """A 256 x 256 crop of ISBI 2012 EM test slice 00 (Cardona et al. 2010)."""
    return [(_read(EM), {"name": "em slice", "colormap": "gray"}, "image")]
