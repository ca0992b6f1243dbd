"""The ground floor: what several layers share (device and memory layout, eval mode, atomic
writes, mirrored windows and resampling, the ignore label, draining a job). It imports nothing
else from ``unet_core``; ``model/`` and ``data/`` import from here, never from above."""
