"""The network as the sliding window calls it: a copy of the model in its inference form on the
chosen device and precision, test-time augmentation, and running out of memory as a
MemoryError (so that the window can try again in smaller pieces)."""

from __future__ import annotations

import numpy as np
import torch

from ..base.device import memory_format, resolve_device
from ..base.precision import resolve_precision
from ..model.blocks import center_crop
from ..model.external import ExternalNetwork
from ..model.fused import inference_form
from ..model.unet import UNet
from .external import external_form
from .window import Forward


def dihedral(x: torch.Tensor, k: int, inverse: bool = False) -> torch.Tensor:
    """The k-th of the 8 flips/rotations of the last two axes (or its inverse)."""
    rot, flip = k % 4, k >= 4
    if not inverse:
        x = torch.rot90(x, rot, dims=(-2, -1))
        return torch.flip(x, dims=(-1,)) if flip else x
    if flip:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, -rot, dims=(-2, -1))


def out_of_memory(exc: BaseException) -> bool:
    """Whether a torch error says that memory ran out (CUDA, MPS or the CPU's allocator)."""
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text


class NetworkCall:
    """One model's network, called on batches of normalised 2-D or 3-D tiles (TTA flips and
    rotates in-plane; channels-last, or channels-last-3d for a volume's tiles).

    ``device`` and ``precision`` are resolved here (:attr:`device`, :attr:`precision`). The
    model is neither moved nor changed: :meth:`net` is a copy in its inference form
    (:func:`~unet_core.model.fused.inference_form`), made again whenever the model's weights
    change in place (a fine-tuning step, ``load_state_dict``), which raises each changed
    tensor's version counter, the signal autograd itself checks.
    """

    def __init__(self, model: UNet | ExternalNetwork, device="auto", precision: str = "auto",
                 tta: bool = False):  # fmt: skip
        self.model = model
        self.device = resolve_device(device)
        external = isinstance(model, ExternalNetwork)  # a foreign network runs as it was made
        self.precision = resolve_precision("fp32" if external else precision, self.device)
        # channels-last convolutions are markedly faster with oneDNN (CPU) and cuDNN
        self.memory_format = memory_format(self.device, self.model.spatial_dims)
        self.tta = bool(tta)
        self._form: tuple | None = None  # (weights' versions, inference form)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the network computes in (:attr:`precision`)."""
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def net(self) -> torch.nn.Module:
        """The model's inference form on this device for the weights it has now."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        key = (self.dtype, tuple((id(t), t._version) for t in tensors))
        cached = self._form
        if cached is not None and cached[0] == key:
            return cached[1]
        if isinstance(self.model, ExternalNetwork):
            net = external_form(self.model, self.device)
        else:
            net = inference_form(self.model, self.dtype, device=self.device,
                                 memory_format=self.memory_format)  # fmt: skip
        self._form = (key, net)
        return net

    def forward(self) -> Forward:
        """(B, c, *tile_in) normalised tiles -> (B, classes, *tile_out) probabilities (the
        centre of the network's output), averaged over the 8 flips and rotations with TTA."""
        net = self.net()
        views = range(8) if self.tta else range(1)

        def forward(batch: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
            failed = None
            try:
                return run(batch, size)
            except RuntimeError as exc:
                if not out_of_memory(exc):
                    raise
                failed = str(exc).splitlines()[0]
            # here the failed pass's frames and tensors are gone (no traceback holds them), so
            # the cache can give their memory back before the window tries smaller pieces
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise MemoryError(f"out of memory on {self.device}: {failed}")

        def run(batch: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
            x = torch.from_numpy(batch).to(self.device, self.dtype)
            x = x.contiguous(memory_format=self.memory_format)
            acc = None
            with torch.inference_mode():
                for k in views:
                    logits = net(dihedral(x, k))
                    p = dihedral(torch.softmax(logits.float(), dim=1), k, inverse=True)
                    acc = p if acc is None else acc + p
                return center_crop(acc / len(views), size).cpu().numpy()

        return forward
