"""``python -m unet_core`` runs the command line."""

from .cli import run

run()
