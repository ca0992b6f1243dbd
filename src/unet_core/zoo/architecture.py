"""The network's source as one file, for a package's ``pytorch_state_dict`` weights: a
bioimage.io consumer imports this file and builds ``UNetProbabilities(**kwargs)`` without
napari-unet installed. It is made from this tool's own modules (:mod:`..model.blocks` and
:mod:`..model.unet`) when a package is written, so it cannot drift from them."""

from __future__ import annotations

import re
from pathlib import Path

from ..model import blocks, unet

#: the callable a package names: the U-Net followed by the softmax over classes
CALLABLE = "UNetProbabilities"
#: the start of every key of a package's state dict: the callable holds the U-Net as ``.net``
STATE_PREFIX = "net."

_WRAPPER = '''

class UNetProbabilities(nn.Module):
    """Class probabilities (N, classes, H, W): the softmax of the U-Net's logits. The keyword
    arguments are the U-Net's (``UNet(**architecture)``)."""

    def __init__(self, **architecture):
        super().__init__()
        self.net = UNet(**architecture)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)
'''

_HEADER = '''"""The U-Net of napari-unet (Ronneberger, Fischer and Brox, MICCAI 2015) in one
file, for bioimage.io consumers: ``UNetProbabilities(**kwargs)`` with the package's state dict.
Generated from napari-unet's unet_core.model.blocks and unet_core.model.unet."""

from __future__ import annotations
'''


def architecture_source() -> str:
    """The text of the one-file architecture (blocks, then the U-Net, then the wrapper)."""
    parts = [_HEADER]
    for module in (blocks, unet):
        text = Path(module.__file__).read_text(encoding="utf-8")
        text = re.sub(r"^from __future__ import annotations\n", "", text, flags=re.M)
        text = re.sub(r"^from \.[\w.]* import .*\n", "", text, flags=re.M)
        parts.append(f"\n# ---- from {module.__name__} " + "-" * 40 + "\n" + text)
    return "".join(parts) + _WRAPPER
