"""napari-paint-unet: the napari plugin over ``unet_core``.

Importing this package imports neither torch nor the widgets; napari loads each contribution
(reader, writer, sample data, widgets) from ``napari.yaml`` when it is first used.
"""

__version__ = "0.1.0"

from unet_core.cli_version import DISTRIBUTION as PLUGIN  # noqa: E402

__all__ = ["PLUGIN", "__version__"]  # PLUGIN: the plugin's name in napari (its npe2 manifest)
