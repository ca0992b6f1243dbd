"""The paint-and-retrain loop as data and operations, napari-free: the plugin's widgets show it
and call it, and a project folder stores and reopens it whole.

- :class:`Pair`: an image (by identity: name, shape, a digest of its pixels, its file) and the
  labels painted on it, with what the last prediction wrote there, so that the user's strokes
  are told from the model's pixels in every later round, threshold or re-segmentation;
- :class:`Version`: one round's model and what made it (parent by identity, pairs, steps,
  held-out score, the corrections it was trained on);
- :class:`LoopProject`: the pairs and versions of one project folder and the loop's
  operations (a round, re-segment, roll back, restore), saved by :mod:`.storage`;
- :class:`Workspace`: the projects open in one window, with names that never clash.
"""

from .errors import LoopError, ProjectError
from .identity import ImageId
from .project import LoopProject
from .records import CORRECTIONS, MODES, SCRIBBLES, Pair, Prediction, Version
from .rounds import RoundData, RoundResult, round_job
from .workspace import Workspace

__all__ = [
    "CORRECTIONS", "MODES", "SCRIBBLES", "ImageId", "LoopError", "LoopProject", "Pair",
    "Prediction", "ProjectError", "RoundData", "RoundResult", "Version", "Workspace",
    "round_job",
]  # fmt: skip
