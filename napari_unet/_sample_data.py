"""File > Open Sample > napari-unet: a fundus photograph and an EM slice (see sample_data/)."""

from __future__ import annotations


def _read(task: str):
    from unet_core.data.io import read_image
    from unet_core.tasks import sample_path

    return read_image(sample_path(task))


def fundus_sample() -> list[tuple]:
    """Colour fundus photograph of a normal left eye (Häggström 2014, CC0)."""
    return [(_read("fundus"), {"name": "fundus", "rgb": True}, "image")]


def em_sample() -> list[tuple]:
    """A 256 x 256 crop of ISBI 2012 EM test slice 00 (Cardona et al. 2010)."""
    return [(_read("em"), {"name": "em slice", "colormap": "gray"}, "image")]
