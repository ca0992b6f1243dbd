"""Which image labels were painted on: told by its pixels, not by a layer's name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np


def digest(image: Any) -> str | None:
    """A digest of an image's pixels (shape and type included); None for an array that is not
    in memory (dask, zarr: reading it whole is what the tool avoids)."""
    if not isinstance(image, np.ndarray):
        return None
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{image.shape}{image.dtype.str}".encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def size_text(shape: tuple[int, ...]) -> str:
    """A shape as a person reads it: ``"512 x 512"``."""
    return " x ".join(str(n) for n in shape)


@dataclass(frozen=True)
class ImageId:
    """Which image labels were painted on: its name, shape, pixels' digest and file."""

    name: str
    shape: tuple[int, ...]
    digest: str | None = None
    path: str | None = None

    @classmethod
    def of(cls, image: Any, name: str, path: str | None = None) -> ImageId:
        return cls(name, tuple(int(n) for n in np.shape(image)), digest(image),
                   str(path) if path else None)  # fmt: skip

    def mismatch(self, other: ImageId, labels_name: str) -> str | None:
        """Why ``other`` is not the image ``labels_name`` were made on (one line), or None
        when it is (the same pixels, whatever the layer's name)."""
        if self.digest and other.digest and self.digest == other.digest:
            return None
        if self.shape != other.shape:
            return (f"'{labels_name}' were made on '{self.name}' ({size_text(self.shape)}), not on "
                    f"'{other.name}' ({size_text(other.shape)})")  # fmt: skip
        same_file = bool(self.path) and self.path == other.path
        if self.digest is None or other.digest is None:  # lazy pixels: the file or name tells
            if same_file or (not self.path and self.name == other.name):
                return None
        elif same_file or self.name == other.name:
            return f"'{other.name}' changed since '{labels_name}' were made on it"
        return f"'{labels_name}' were made on '{self.name}', not on '{other.name}'"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "digest": self.digest,
                "path": self.path}  # fmt: skip
