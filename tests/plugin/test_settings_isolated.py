"""The tests never write the user's napari settings: tests/conftest.py points NAPARI_CONFIG at a
folder of the test run before napari is imported, so a plain ``pytest`` is safe too."""

from __future__ import annotations

import os
from pathlib import Path


def test_a_viewer_test_writes_settings_only_into_the_test_folder(make_napari_viewer,
                                                              napari_settings_dir):  # fmt: skip
    """The settings in use are the test run's file, and a change lands there, not in the
    user's (whose contents are compared, not its time: the user's own napari, or another test
    run, may write it meanwhile)."""
    import numpy as np
    from napari.settings import get_settings
    from napari.utils._base import _DEFAULT_CONFIG_PATH  # where the user's settings are

    ours, users = napari_settings_dir / "settings.yaml", Path(_DEFAULT_CONFIG_PATH)
    assert os.environ["NAPARI_CONFIG"] == str(ours)
    assert not napari_settings_dir.is_relative_to(Path.home())

    viewer = make_napari_viewer()  # resets the settings, which saves them
    settings = get_settings()
    assert Path(settings.config_path) == ours
    settings.application.hold_button_delay = 0.4321  # a change is saved at once
    viewer.add_labels(np.zeros((4, 4), np.uint8))

    assert "hold_button_delay: 0.4321" in ours.read_text()
    assert not users.is_file() or "hold_button_delay: 0.4321" not in users.read_text()
