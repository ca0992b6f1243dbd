"""How files are segmented, as one object: the command line, :class:`BatchRun`, the per-file
steps, the cluster workers and the napari widgets all pass a :class:`SegmentOptions`, and the
report records it beside the results."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: images with more pixels than this are read lazily and segmented band by band (8192 x 8192)
STREAM_PIXELS = 1 << 26


@dataclass(frozen=True)
class SegmentOptions:
    """device, tile, batch_size, tta, scale, precision: the predictor's (see ``Predictor``).
    threshold: of the foreground probability (two classes). save_prob, save_overlay: also write
    ``<stem>_prob.tif`` and ``<stem>_overlay.png``. overwrite: redo files whose outputs exist.
    measure: the task's measurements (vessels; in microns with ``pixel_size_um`` or the field
    of view's angle ``fov_degrees``). instances: separate objects
    (``<stem>_instances.tif``, their count and mean area). stream_pixels: larger TIFFs are
    segmented band by band."""

    device: str = "auto"
    tile: int | None = None
    batch_size: int | None = None
    tta: bool = False
    scale: float | str = "auto"
    precision: str = "auto"
    threshold: float = 0.5
    save_prob: bool = False
    save_overlay: bool = False
    overwrite: bool = False
    measure: bool = True
    instances: bool = False
    stream_pixels: int = STREAM_PIXELS
    pixel_size_um: float | None = None
    fov_degrees: float | None = None

    def with_(self, **changes) -> SegmentOptions:
        """A copy with ``changes``; a ValueError names an unknown option."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown segmentation option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def predictor_args(self) -> dict:
        return dict(device=self.device, tile=self.tile, batch_size=self.batch_size,
                    tta=self.tta, scale=self.scale, precision=self.precision)  # fmt: skip

    def calibration(self):
        """How big a pixel is, for the measurements (:class:`~..retina.biomarkers.Calibration`;
        ValueError in one line for a value that is not a positive number)."""
        from ..retina.biomarkers import Calibration

        return Calibration(self.pixel_size_um, self.fov_degrees)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
