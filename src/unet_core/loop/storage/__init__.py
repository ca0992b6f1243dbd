"""A project folder: the loop model on disk, read and written whole.

Layout::

    project.json                     the manifest (format 2), written atomically and last
    pairs/<pair id>/labels.tif       the labels as the user painted them
    pairs/<pair id>/shown.tif        scribbles: the prediction shown beside them
    pairs/<pair id>/prediction.npz   what the last prediction wrote (derived labels, painted
                                     mask, probabilities); ``prediction-<i>-<j>.npz`` per plane
    pairs/<pair id>/image.tif        the image, when it has no file of its own
    versions/<name>.safetensors      each version's model (weights and card)
    versions/<version id>/<pair id>.tif   the labels each version was trained on
    learning_curve.csv               round, version, parent, corrected pixels, held-out Dice

Reading checks the folder as a whole before anything is used: the manifest is a regular file
of bounded size, every field has its type, and every file it names lies inside the folder
(no absolute paths, no ``..``, no links out), except an image's own file, which is only read.
Projects of format 1 (no predictions, versions by name) are read too.
"""

from .files import (
    FORMAT,
    MANIFEST,
    inside,
    is_project,
    load_pixels,
    read_array,
    read_prediction,
    slug,
)
from .read import read_project
from .write import learning_curve_csv, save_job

__all__ = ["FORMAT", "MANIFEST", "inside", "is_project", "learning_curve_csv", "load_pixels",
           "read_array", "read_prediction", "read_project", "save_job", "slug"]  # fmt: skip
