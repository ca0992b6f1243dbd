"""The network's source as one file, for a package's ``pytorch_state_dict`` weights: a
bioimage.io consumer imports this file and builds ``Probabilities(**kwargs)`` without
napari-unet installed. It is made from this tool's own modules (the blocks, the U-Net, how a
card's architecture is built, and the :mod:`.probabilities` wrapper every format exports) when
a package is written, so it cannot drift from them."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from ..model import arguments, blocks, build, geometry, resnet, unet
from . import probabilities

#: the callable a package names: the U-Net followed by the softmax over classes
CALLABLE = probabilities.Probabilities.__name__
#: the start of every key of a package's state dict: the callable holds the U-Net as ``.net``
STATE_PREFIX = "net."
MODULES = (blocks, geometry, arguments, unet, resnet, build, probabilities)
#: modules the others use by name (``from . import geometry``): a namespace of their functions
NAMESPACES = (geometry,)

_HEADER = '''"""The U-Net of napari-unet (Ronneberger, Fischer and Brox, MICCAI 2015) in one
file, for bioimage.io consumers: ``Probabilities(**kwargs)`` with the package's state dict.
Generated from napari-unet's unet_core.model.blocks, .geometry, .arguments, .unet,
.resnet and .build and unet_core.formats.probabilities."""

from __future__ import annotations
'''


def architecture_source() -> str:
    """The text of the one-file architecture (:data:`MODULES`, in order, without their
    imports of each other)."""
    parts = [_HEADER]
    for module in MODULES:
        text = Path(module.__file__).read_text(encoding="utf-8")
        text = re.sub(r"^from __future__ import annotations\n", "", text, flags=re.M)
        text = re.sub(r"^from \.[\w.]* import .*\n", "", text, flags=re.M)
        parts.append(f"\n# ---- from {module.__name__} " + "-" * 40 + "\n" + text)
        if module in NAMESPACES:
            names = [n for n, v in vars(module).items()
                     if inspect.isfunction(v) and v.__module__ == module.__name__]  # fmt: skip
            short = module.__name__.rsplit(".", 1)[-1]
            fields = ", ".join(f"{n}={n}" for n in names)
            parts.append(f"\n{short} = __import__('types').SimpleNamespace({fields})\n")
    return "".join(parts)
