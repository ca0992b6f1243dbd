"""napari-paint-unet: the napari plugin over ``unet_core``.

Importing this package imports neither torch nor the widgets; napari loads each contribution
(reader, writer, sample data, widgets) from ``napari.yaml`` when it is first used.
"""

__version__ = "0.1.0"

#: the plugin's name in napari (its npe2 manifest, the Plugins menu) and its distribution's
PLUGIN = "napari-paint-unet"
