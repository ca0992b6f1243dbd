"""Reading and writing images: TIFF (LZW too, 8/16-bit, gray or RGB), PNG, JPEG, GIF.

Every reader error is a :class:`ImageReadError` with a one-line reason naming the file. Writes
go to a temporary file in the destination folder and are renamed into place, so a crash never
leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from ..base.files import atomic_write
from ..base.labels import file_mask, is_marked, mask_classes, mask_metadata, mask_palette

TIFF_SUFFIXES = (".tif", ".tiff")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PIL_SUFFIXES


class ImageReadError(ValueError):
    """A file that could not be read as an image."""


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | os.PathLike, *, lazy: bool = False) -> np.ndarray:
    """Read a 2-D image as (H, W) or channel-last (H, W, C); a stack as (Z, H, W[, C]).

    Palette images are converted to RGB (or to L when the palette is gray), alpha is kept,
    singleton axes are dropped and planar RGB TIFFs become channel-last; other multi-plane
    TIFFs (e.g. our (classes, H, W) probability files) keep their plane axis first.
    With ``lazy=True`` an uncompressed TIFF is memory-mapped instead of loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path.name}: no such file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path.name}: the file is empty")
    suffix = path.suffix.lower()
    try:
        if suffix in TIFF_SUFFIXES:
            array = _read_tiff(path, lazy)
        elif suffix in PIL_SUFFIXES:
            array = _read_pil(path)
        else:
            raise ImageReadError(
                f"{path.name}: not a supported image type ({suffix or 'no suffix'})"
            )
    except ImageReadError:
        raise
    except Exception as exc:  # any decoder failure is a bad file, reported in one line
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if len(text) <= 12 or text.isdigit():  # "0", "index 0": says nothing to a user
            text = f"damaged, truncated or not really {suffix[1:].upper()}: {type(exc).__name__}"
        reason = text
        raise ImageReadError(f"{path.name}: cannot be read as an image ({reason})") from exc
    return _canonical(array, path.name)


def _read_tiff(path: Path, lazy: bool) -> np.ndarray:
    import tifffile

    if lazy:
        with contextlib.suppress(ValueError):
            return tifffile.memmap(path, mode="r")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        array = tif.asarray()
        planar_rgb = (
            page.photometric == tifffile.PHOTOMETRIC.RGB
            and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
        )
    if planar_rgb and array.ndim == 3 and array.shape[0] in (3, 4):
        array = np.moveaxis(array, 0, -1)  # planar RGB -> channel-last
    return array


def _read_pil(path: Path) -> np.ndarray:
    import warnings

    from PIL import Image

    with warnings.catch_warnings():  # a large photograph is fine; 2x PIL's limit is refused
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return _decode_pil(path)


def _decode_pil(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im.seek(0)
        if im.mode == "P":
            rgb = im.convert("RGB")
            arr = np.asarray(rgb)
            if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(
                arr[..., 1], arr[..., 2]
            ):
                return arr[..., 0].copy()
            return arr
        if im.mode in ("1", "LA", "PA"):
            im = im.convert("L" if im.mode == "1" else im.mode[0] + "A")
        if im.mode == "CMYK":
            im = im.convert("RGB")
        return np.asarray(im)


def _canonical(array: np.ndarray, name: str) -> np.ndarray:
    if array.size == 0:
        raise ImageReadError(f"{name}: the image has no pixels")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ImageReadError(f"{name}: unsupported pixel type {array.dtype}")
    squeezed = [i for i, n in enumerate(array.shape) if n == 1 and array.ndim > 2]
    if squeezed and array.ndim - len(squeezed) >= 2:
        array = array.reshape([n for i, n in enumerate(array.shape) if i not in squeezed])
    if array.ndim < 2:
        raise ImageReadError(f"{name}: expected an image, got an array of shape {array.shape}")
    if array.dtype.kind == "f" and array.dtype.itemsize > 4:
        finite = np.abs(array[np.isfinite(array)])  # NaN and inf are handled as missing
        big = float(finite.max(initial=0.0))
        if big > float(np.finfo(np.float32).max):
            raise ImageReadError(f"{name}: pixel values up to {big:.3g} are beyond the "
                                 "float32 range (3.4e38); rescale the image")  # fmt: skip
    return array


def write_tiff(path: str | os.PathLike, array: np.ndarray, **meta) -> Path:
    """Write ``array`` as a zlib-compressed TIFF, atomically."""
    import tifffile

    array = np.asarray(array)
    photometric = "rgb" if array.ndim == 3 and array.shape[-1] in (3, 4) else "minisblack"

    def write(tmp: Path) -> None:
        tifffile.imwrite(tmp, array, compression="zlib", photometric=photometric, metadata=meta)

    return atomic_write(path, write)


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a TIFF written by the tool ({} for any other file); an
    ImageReadError for a file that is not a TIFF one can read."""
    import tifffile

    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return {}
    try:
        with tifffile.TiffFile(path) as tif:
            meta = tif.shaped_metadata
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad file
        reason = f"{path.name}: cannot be read as a TIFF ({type(exc).__name__})"
        raise ImageReadError(reason) from exc
    return dict(meta[0]) if meta else {}


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask file as class indices: one the tool wrote as it stands, any other by the rule of
    :func:`unet_core.base.labels.mask_classes` (a 0/255 binary mask as 0/1)."""
    return mask_classes(read_image(path), is_marked(read_metadata(path)))


def write_mask(path: str | os.PathLike, labels: np.ndarray, classes: list[str] | None = None,
               **meta) -> Path:  # fmt: skip
    """Write class indices (H, W) or (Z, H, W) as a uint8 TIFF, atomically: marked as class
    indices in its metadata (with ``classes`` and ``meta``), with the palette of
    :func:`unet_core.base.labels.mask_palette`. With ``classes`` every value must be one of
    them (a prediction); without, the ignore value may appear too (painted labels)."""
    import tifffile

    array = file_mask(labels, len(classes) if classes else None)
    meta = {**mask_metadata(classes), **meta}

    def write(tmp: Path) -> None:
        tifffile.imwrite(tmp, array, compression="zlib", photometric="palette",
                         colormap=mask_palette(), metadata=meta)  # fmt: skip

    return atomic_write(path, write)


def write_png(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a uint8 (H, W) or (H, W, 3|4) array as PNG, atomically."""
    from PIL import Image

    return atomic_write(
        path, lambda tmp: Image.fromarray(np.asarray(array)).save(tmp, format="PNG")
    )
