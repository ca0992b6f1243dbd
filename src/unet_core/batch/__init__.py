"""Segmenting many files: folders in, masks and a per-file report out (CLI and widget)."""

from .files import (
    REPORT_NAME,
    BatchError,
    FileResult,
    collect_inputs,
    find_inputs,
    is_output_name,
    output_paths,
)
from .options import STREAM_PIXELS, SegmentOptions
from .run import BatchRun, segment_batch
from .segment import segment_file, segment_file_steps

__all__ = [
    "REPORT_NAME", "STREAM_PIXELS", "BatchError", "BatchRun", "FileResult", "SegmentOptions",
    "collect_inputs", "find_inputs", "is_output_name", "output_paths", "segment_batch",
    "segment_file", "segment_file_steps",
]  # fmt: skip
