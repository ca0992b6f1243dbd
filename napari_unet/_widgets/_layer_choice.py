"""Drop-downs of a window's layers: the images and the labels layers a user may choose (not
those the tool draws to show a probability, an uncertainty, what a round changed or the live
answer). They read the window they were made for, docked or not; docked (as the plugin's
manifest docks them), napari refreshes them as layers come, go, move and are renamed."""

from __future__ import annotations

from magicgui.widgets import ComboBox

from .._session import image_layers, labels_layers


def image_choice(viewer, label: str, nullable: bool = False) -> ComboBox:
    """A ``ComboBox`` of ``viewer``'s image layers, the tool's display layers left out."""
    return ComboBox(label=label, choices=lambda _=None: image_layers(viewer), nullable=nullable)


def labels_choice(viewer, label: str, nullable: bool = False) -> ComboBox:
    """A ``ComboBox`` of ``viewer``'s labels layers, the tool's display layers left out."""
    return ComboBox(label=label, choices=lambda _=None: labels_layers(viewer), nullable=nullable)
