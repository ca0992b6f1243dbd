"""A live answer to every stroke: a light head on the network's own features.

The network runs once per image (its last decoder level, at the scale it works at, with a few
fixed filters of the image beside it: what ilastik's pixel classifier uses); after each stroke
a linear head is trained on the painted pixels in a fraction of a second and classifies every
pixel. It starts from the network's own 1x1 head, so with nothing painted it answers what the
network answers, and each stroke moves it. A finished round (which trains the whole network)
replaces its answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..base.arrays import read_window, resize
from ..base.events import Event, Progress, Status
from ..base.labels import IGNORE_LABEL
from ..model.external import ExternalNetwork
from .errors import LoopError

if TYPE_CHECKING:
    from ..tasks.task import ImageContext

#: pixels (at the network's scale) above which no live answer is computed: the features of a
#: 24-channel network take 4 bytes x 30 channels a pixel
MAX_PIXELS = 2_000_000
#: painted pixels a head trains on at most (a random share of more)
MAX_SAMPLES = 40_000
SIGMAS = (1.0, 2.0, 4.0)


@dataclasses.dataclass
class Features:
    """What a head classifies: (F, h, w) float32 standardised features at the network's scale
    (``deep`` of them from the network, the rest fixed filters), for an image of ``shape``,
    and what the model's task found of the image once (``context``: its scale, a fundus
    photograph's field of view), for finishing every answer without finding it again."""

    values: np.ndarray
    deep: int
    shape: tuple[int, int]
    mean: np.ndarray
    std: np.ndarray
    context: ImageContext | None = None


def image_features(model, image: np.ndarray, device: str = "cpu") -> Features:
    """The features of ``image`` for a live head (see the module docstring); LoopError for an
    image too large to answer live."""
    from ..data.preprocess import model_channels, preprocess
    from ..model.card import card_of
    from ..tasks import task_of
    from ..tasks.task import checked_scale

    if isinstance(model, ExternalNetwork):  # no features this tool knows how to read
        raise LoopError("a network of another tool gives no live answer (this tool reads only "
                        "its own U-Net's features); fine-tune rounds still work")  # fmt: skip
    card = card_of(model)
    image = np.asarray(image)
    H, W = image.shape[:2]
    context = task_of(card).prepare(image, card)
    factor = checked_scale(context.scale, card)
    h, w = max(1, round(H * factor)), max(1, round(W * factor))
    if h * w > MAX_PIXELS:
        raise LoopError(f"the image is too large for a live answer ({h} x {w} pixels at the "
                        "model's scale); fine-tune rounds still work")  # fmt: skip
    raw = model_channels(image, card.preprocessing.channels)
    if (h, w) != (H, W):
        raw = resize(raw, (h, w))
    x = preprocess(raw, card.preprocessing)  # (C, h, w) normalised as the network sees it
    deep = network_features(model, x, device)
    values = np.concatenate([deep, filter_features(x)])
    mean = values.reshape(len(values), -1).mean(1)
    std = values.reshape(len(values), -1).std(1) + 1e-6
    values -= mean[:, None, None]
    values /= std[:, None, None]
    return Features(values, len(deep), (H, W), mean, std, context)


def network_features(model, x: np.ndarray, device: str = "cpu") -> np.ndarray:
    """(C, h, w) normalised image -> (base_channels, h, w) of the network's last decoder level,
    in one pass over the image mirrored past its borders."""
    from ..base.device import resolve_device
    from ..model.fused import inference_form

    c, h, w = x.shape
    g = model.grid
    if model.padding == "same":  # mirrored context of one pooling grid, sizes on the grid
        top = g
        size = (h + 2 * g + (-(h + 2 * g)) % g, w + 2 * g + (-(w + 2 * g)) % g)
    else:  # the paper's valid network: the margin it eats, and a valid input size
        top = model.margin // 2
        size = (model.valid_input_size(h + model.margin), model.valid_input_size(w + model.margin))
    window = read_window(np.moveaxis(x, 0, -1), -top, -top, *size)
    dev = resolve_device(device)
    net = inference_form(model, torch.float32, device=dev)  # a copy: the model stays put
    batch = torch.from_numpy(np.ascontiguousarray(np.moveaxis(window, -1, 0)))[None].to(dev)
    with torch.inference_mode():
        out = net.features(batch)[0].float().cpu().numpy()
    if model.padding == "same":
        return np.ascontiguousarray(out[:, top : top + h, top : top + w])
    return np.ascontiguousarray(out[:, :h, :w])


def filter_features(x: np.ndarray) -> np.ndarray:
    """Fixed filters of each channel: smoothed at 1, 2 and 4 px, gradient magnitude at 1 and
    2 px, and the difference of the 1- and 4-px smoothings (blobs and ridges)."""
    from scipy import ndimage

    out = []
    for channel in x:
        smooth = [ndimage.gaussian_filter(channel, s) for s in SIGMAS]
        out += smooth
        out += [ndimage.gaussian_gradient_magnitude(channel, s) for s in SIGMAS[:2]]
        out.append(smooth[0] - smooth[-1])
    return np.stack(out).astype(np.float32)


class LiveHead:
    """A linear classifier over :class:`Features`, started from the network's own head."""

    def __init__(self, model, features: Features):
        self.features = features
        num, deep = model.num_classes, features.deep
        head = model.head  # the first pass's 1x1 head: its answer on the standardised features
        weight = head.weight.detach().float().cpu().numpy().reshape(num, -1)
        bias = head.bias.detach().float().cpu().numpy()
        full = np.zeros((num, len(features.values)), np.float32)
        full[:, :deep] = weight * features.std[None, :deep]
        self.weight = torch.from_numpy(full)
        self.bias = torch.from_numpy(bias + weight @ features.mean[:deep])
        self.start = (self.weight.clone(), self.bias.clone())

    @property
    def num_classes(self) -> int:
        return int(self.weight.shape[0])

    def fit(self, labels: np.ndarray, weights: np.ndarray | None = None, steps: int = 120,
            seed: int = 0) -> Generator[Progress, None, None]:  # fmt: skip
        """Train on the pixels of ``labels`` (class indices at the image's size,
        ``IGNORE_LABEL`` where nothing is known; ``weights`` per pixel), from the network's
        head each time: yields :class:`Progress` every 20 steps (a job can stop there)."""
        h, w = self.features.values.shape[1:]
        if np.shape(labels) != self.features.shape:
            raise LoopError(f"labels {np.shape(labels)} do not match the image "
                            f"{self.features.shape}")  # fmt: skip
        small = resize(np.asarray(labels).astype(np.float32), (h, w), order=0).astype(np.int64)
        known = np.flatnonzero((small != IGNORE_LABEL) & (small >= 0) & (small < self.num_classes))
        if not known.size:
            raise LoopError("nothing painted yet")
        rng = np.random.default_rng(seed)
        if known.size > MAX_SAMPLES:
            known = rng.choice(known, MAX_SAMPLES, replace=False)
        y = torch.from_numpy(small.ravel()[known])
        values = self.features.values
        x = torch.from_numpy(values.reshape(len(values), -1)[:, known].T)
        weight = np.ones(known.size, np.float32)
        if weights is not None:
            weight = resize(np.asarray(weights, np.float32), (h, w), order=0).ravel()[known]
        counts = np.bincount(y.numpy(), weights=weight, minlength=self.num_classes)
        balance = weight.sum() / np.maximum(counts, 1e-6) / self.num_classes
        weight = torch.from_numpy((weight * balance[y.numpy()]).astype(np.float32))
        from ..training.optim import Adam  # torch's imports torch._dynamo: seconds, once

        self.weight, self.bias = (t.clone().requires_grad_(True) for t in self.start)
        optimizer = Adam([self.weight, self.bias], lr=0.05)
        for step in range(1, steps + 1):
            logits = x @ self.weight.T + self.bias
            loss = (torch.nn.functional.cross_entropy(logits, y, reduction="none") * weight).sum()
            loss = loss / weight.sum() + 1e-3 * (self.weight - self.start[0]).pow(2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 20 == 0:
                yield Progress(step, steps, "steps")
        self.weight, self.bias = self.weight.detach(), self.bias.detach()

    def predict(self) -> np.ndarray:
        """(classes, H, W) float32 probabilities at the image's size."""
        f = self.features.values
        with torch.no_grad():
            logits = torch.einsum("kf,fhw->khw", self.weight, torch.from_numpy(f))
            prob = torch.softmax(logits + self.bias[:, None, None], dim=0).numpy()
        H, W = self.features.shape
        if prob.shape[1:] != (H, W):
            prob = np.moveaxis(resize(np.moveaxis(prob, 0, -1), (H, W)), -1, 0)
        return np.ascontiguousarray(prob, np.float32)


def live_job(model, image: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None,
             features: Features | None = None,
             device: str = "cpu",
             ) -> Generator[Event, None, tuple[np.ndarray, Features]]:  # fmt: skip
    """The live answer to the labels as painted now: yields what it is doing (a worker can
    stop between yields), returns ((classes, H, W) probabilities, the image's features to
    reuse for the next stroke)."""
    if features is None or features.shape != tuple(np.shape(image)[:2]):
        yield Status("reading the image with the network…")
        features = image_features(model, np.asarray(image), device)
    from ..model.card import card_of
    from ..tasks import task_of

    head = LiveHead(model, features)
    yield Status("answering…")
    yield from head.fit(labels, weights)
    prob = head.predict()
    card = card_of(model)  # e.g. the FOV; made at the model's scale alone (no finer pass):
    context = dataclasses.replace(features.context, finer=()) if features.context else None
    task_of(card).finish(np.asarray(image), prob, card, context)
    return prob, features
