"""*Save measurements…*: the Segment widget's last segmented image's numbers as a CSV file with
the batch report's columns (``unet_core.batch.table``), or the Measure widget's table; never
replacing a file without asking."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from magicgui.widgets import PushButton

from .._session import image_file
from ._runner import error_line


class MeasurementsSaver:
    """The button, for a widget whose last result is ``last()`` (the Segment widget's dict:
    labels layer, pair, plane index, card, result, image layer); ``say(text)`` reports;
    ``describe(ref)`` names a model as people know it (a version's name).

    ``row(last) -> (columns, row)``: the table to write, for another widget's result (its
    dict holds the ``image_layer`` too); default: Segment's (:meth:`row`).

    ``path``: where the next save goes without a dialog (then cleared), as tests set it;
    ``confirm(path) -> bool`` asks before a file is replaced.
    """

    def __init__(self, last: Callable[[], dict | None], say: Callable[[str], object],
                 describe: Callable[[str], str] = str,
                 row: Callable[[dict], tuple] | None = None):  # fmt: skip
        self.last, self.say, self.describe = last, say, describe
        self.make_row = row or self.row
        self.button = PushButton(text="Save measurements…", visible=False)
        self.button.tooltip = ("the numbers of the last segmented image (size, each class's area "
                               "in the labels as they are now, objects, the measurements shown) "
                               "as a CSV with the batch report's columns")  # fmt: skip
        self.button.changed.connect(lambda *_: self.on_save())
        self.path: str | Path | None = None
        self.measured: dict | None = None  # the task's measurements the widget shows

    def follow(self, measured: dict | None) -> None:
        """A result or a measurement was shown: its values, and the button."""
        self.measured = measured or None
        self.button.visible = self.last() is not None

    def on_save(self) -> None:
        from unet_core.batch.table import write_table

        last = self.last()
        if last is None:
            self.say("segment an image first" if self.make_row == self.row else
                     "measure first")  # fmt: skip
            return
        path, self.path = self.path or self.choose(last), None
        if not path:
            return  # the dialog was cancelled
        path = Path(path)
        if path.exists() and not self.confirm(path):
            self.say(f"not saved: {path.name} exists")
            return
        try:
            columns, row = self.make_row(last)
            written = write_table(path, columns, [row])
        except (OSError, ValueError) as exc:  # a read-only folder, a full disk: one line
            self.say(f"not saved: {error_line(exc)}")
            return
        self.say(f"measurements of '{row['file']}' saved to {written}")

    def row(self, last: dict) -> tuple[tuple[str, ...], dict]:
        """(columns, row) of the last result's labels as they are now."""
        import numpy as np

        from unet_core.batch.table import measurement_row
        from unet_core.tasks import task_of

        result, image = last["result"], last["image_layer"]
        labels = np.asarray(last["pair"].labels[last["index"]])
        name = image_file(image) or image.name
        if last["index"]:
            name += f" [{', '.join(map(str, last['index']))}]"
        return measurement_row(
            name, labels, list(result.classes), shape=np.shape(last["image"]),
            task_columns=task_of(result.card).report_columns if result.card else (),
            measured=self.measured, objects=result.objects, model=self.describe(result.model),
            scale=result.scale, precision=result.precision, seconds=result.seconds,
        )  # fmt: skip

    def choose(self, last: dict) -> str | None:
        """A file name from a save dialog (None when cancelled); replacing is asked apart."""
        from qtpy.QtWidgets import QFileDialog

        image = last["image_layer"]
        folder = Path(image_file(image) or Path.home() / "x").parent
        name, _ = QFileDialog.getSaveFileName(
            None, "Save measurements", str(folder / f"{image.name} measurements.csv"),
            "CSV files (*.csv)", options=QFileDialog.Option.DontConfirmOverwrite,
        )  # fmt: skip
        return name or None

    def confirm(self, path: Path) -> bool:
        from qtpy.QtWidgets import QMessageBox

        answer = QMessageBox.question(None, "Replace the file?",
                                      f"{path.name} exists in {path.parent}. Replace it?")
        return answer == QMessageBox.StandardButton.Yes

