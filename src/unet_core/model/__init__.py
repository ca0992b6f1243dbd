"""The U-Net: its blocks (blocks.py), the network and the refining cascade (unet.py), building one
from an architecture (build.py), its inference form (fused.py) and its model card (card.py)."""
