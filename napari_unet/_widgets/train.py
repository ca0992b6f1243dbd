"""Train a new model for your own images: from open image/labels layers or from two folders,
in the background, with the loss and the held-out IoU drawn live. Cancel keeps the best weights
so far. The result becomes a model version (Segment, Batch and Fine-tune list it) and a model
file in the project folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
)
from napari.utils.notifications import show_error, show_info

from unet_core.base.events import Progress, Record, Status
from unet_core.base.labels import IGNORE_LABEL
from unet_core.loop import CORRECTIONS, SCRIBBLES
from unet_core.training.networks import NETWORKS

from .._jobs import train_job
from .._session import default_folder, image_pixels, new_pair, pair_of, workspace
from ._classes import legend, parse_names
from ._fit import button_row, make_scrollable
from ._layer_choice import image_choice, labels_choice
from ._model_picker import ModelPicker, device_choices
from ._plot import LossPlot
from ._runner import JobRunner, error_line

if TYPE_CHECKING:
    import napari

KEEP = "keep going"
#: what a training does when its held-out score stalls: recipe entries (--set on the CLI)
STALLS = {KEEP: {}, "lower the rate": {"schedule": "plateau"},
          "lower it, then stop": {"schedule": "plateau", "patience": 6}}
LAYERS = "open layers"
FOLDERS = "two folders"
SCRATCH = "scratch"


class TrainWidget(Container):
    """Pairs or folders, class names, network size and time budget; Train and Cancel."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._workspace = workspace(napari_viewer)
        self._source = ComboBox(label="train on", choices=[LAYERS, FOLDERS], value=LAYERS)
        self._image = image_choice(napari_viewer, "image")
        self._mask_layer = labels_choice(napari_viewer, "labels")
        self._scribbles = CheckBox(text="scribbles (0 = not annotated)")
        self._scribbles.tooltip = "class k is painted as k + 1; the legend lists the values"
        self._add_pair = PushButton(text="Add this pair")
        self._pairs_view = Label(label="pairs", value="(this pair only)")
        self._images_dir = FileEdit(label="images folder", mode="d", visible=False)
        self._labels_dir = FileEdit(label="labels folder", mode="d", visible=False)
        self._classes = LineEdit(label="class names", value="")
        self._classes.tooltip = "comma-separated, class 0 first (empty: from the labels)"
        self._legend = Label(label="legend", value="")
        self._network_rows()
        self._picker = ModelPicker(self._workspace, "start from", SCRATCH, first=(SCRATCH,))
        self._picker.choice.tooltip = "scratch: a new network; or a model's weights to start from"
        self._base, self._base_file = self._picker.rows
        self._device = ComboBox(label="device", choices=device_choices(), value="auto")
        self._project = FileEdit(label="project folder", mode="d")
        self._run = PushButton(text="Train a new model")
        self._cancel = PushButton(text="Stop", enabled=False)
        self._cancel.tooltip = "stop training: the best model so far is kept and saved"
        self._progress = ProgressBar(label="progress", min=0, max=100, value=0)
        self._status = Label(label="status", value="label a few images, then train")
        self.extend([self._source, self._image, self._mask_layer, self._scribbles, self._add_pair,
                     self._pairs_view, self._images_dir, self._labels_dir, self._classes,
                     self._legend, self._size, self._imagenet, self._minutes, self._stall,
                     self._base, self._base_file, self._device, self._project,
                     button_row(self._run, self._cancel), self._progress, self._status])
        self._runner = JobRunner(self._run, self._cancel, self._progress, self._status,
                               "stopping: saving the best weights so far…")  # fmt: skip
        self._runner.on_cancel = self._stop_training
        self.plot = LossPlot("held-out IoU", "validation")
        self.native.layout().insertWidget(self.index(self._status), self.plot.canvas)
        for label in (self._status, self._legend, self._pairs_view):
            label.native.setWordWrap(True)
        self._pairs: list[tuple] = []
        self._stop = False
        self.max_width = 460
        make_scrollable(self, footer=(self._run, self._cancel, self._progress, self._status))
        self._source.changed.connect(self._on_source)
        self._classes.changed.connect(lambda *_: self._show_legend())
        self._scribbles.changed.connect(lambda *_: self._show_legend())
        self._add_pair.changed.connect(self._on_add_pair)
        self._run.changed.connect(self._on_run)
        self._show_legend()

    @property
    def _worker(self):
        return self._runner.worker

    # ---- choosing ------------------------------------------------------------------------
    def _on_source(self, source: str) -> None:
        layers = source == LAYERS
        for w in (self._image, self._mask_layer, self._scribbles, self._add_pair, self._pairs_view):
            w.visible = layers
        self._images_dir.visible = self._labels_dir.visible = not layers

    def _class_names(self) -> list[str] | None:
        return parse_names(self._classes.value)

    def _show_legend(self) -> None:
        try:
            names = self._class_names() or ["background", "foreground", "…"]
        except ValueError as exc:
            self._legend.value = error_line(exc)
            return
        offset = 1 if self._scribbles.value else 0
        start = "0 = not annotated; " if offset else ""
        ignore = f"{IGNORE_LABEL} = not annotated (magenta)"
        self._legend.value = f"{start}{legend(names, offset)}; {ignore}"

    def _on_add_pair(self) -> None:
        image, labels = self._image.value, self._mask_layer.value
        if image is None or labels is None:
            show_error("Choose an image and its labels first.")
            return
        mode = SCRIBBLES if self._scribbles.value else CORRECTIONS
        if all(p[1] is not labels for p in self._pairs):
            self._pairs.append((image, labels, mode))
        self._pairs_view.value = "; ".join(f"{i.name} + {lab.name}" for i, lab, _ in self._pairs)

    # ---- the data ------------------------------------------------------------------------
    def _layer_data(self):
        """Checked data from the open layers (copies: painting on during training is safe),
        and the pairs for the project."""
        from unet_core.data.folders import check_arrays
        from unet_core.postprocess import scribbles_to_labels

        mode = SCRIBBLES if self._scribbles.value else CORRECTIONS
        pairs = self._pairs or [(self._image.value, self._mask_layer.value, mode)]
        if any(i is None or lab is None for i, lab, _ in pairs):
            raise ValueError("choose an image and its labels first")
        images = [np.array(i.data) for i, _, _ in pairs]
        raws = [np.array(lab.data) for _, lab, _ in pairs]
        labels = [scribbles_to_labels(r) if m == SCRIBBLES else r
                  for r, (_, _, m) in zip(raws, pairs)]  # fmt: skip
        data = check_arrays(images, labels, [lab.name for _, lab, _ in pairs],
                            self._class_names())  # fmt: skip
        return data, pairs, [(i, lab, r) for i, lab, r in zip(images, labels, raws)]

    def _folder_data(self):
        from unet_core.data.folders import load_folders

        images, labels = self._images_dir.value, self._labels_dir.value
        if not images or not labels or str(images) == "." or str(labels) == ".":
            raise ValueError("choose the images folder and the labels folder first")
        return load_folders(images, labels, self._class_names()), [], []

    def _project_folder(self) -> Path:
        folder = self._project.value
        if folder and str(folder) not in (".", ""):
            return Path(folder)
        if self._source.value == FOLDERS:
            images = Path(self._images_dir.value)
            folder = images.parent / f"{images.name}.unet-project"
        else:
            folder = default_folder((self._pairs or [(self._image.value,)])[0][0])
        self._project.value = folder
        return Path(folder)

    # ---- running -------------------------------------------------------------------------
    def _on_run(self) -> None:
        if self._runner.busy:
            return
        try:
            load = self._layer_data if self._source.value == LAYERS else self._folder_data
            data, pairs, arrays = load()
            project = self._workspace.project_at(self._project_folder())
            ref = self._picker.ref()
            base = None if ref == SCRATCH else ref
            if base is not None and base.startswith("version:"):
                base = self._workspace.model(base)  # copied by the training, never changed
        except Exception as exc:  # a bad folder, file, shape or label value: one line
            show_error(f"napari-unet: {error_line(exc)}")
            self._status.value = f"not started: {error_line(exc)}"
            return
        from unet_core.loop.storage import slug

        name = project.next_name("trained")
        out = project.folder / "versions" / f"{slug(name)}.safetensors"
        self._stop = False
        job = train_job(data, str(out), minutes=self._minutes.value, size=self._size.value,
                        base=base, device=self._device.value, stop=lambda: self._stop,
                        imagenet=self._imagenet_file(),
                        recipe=STALLS[self._stall.value])  # fmt: skip
        self._context = {"name": name, "data": data, "pairs": pairs, "arrays": arrays,
                         "project": project, "ref": ref, "start": time.monotonic(),
                         "scores": []}  # fmt: skip
        self.plot.reset()
        self.plot.dice.set([])
        classes = ", ".join(data.classes)
        status = "; ".join([f"training {name} on {len(data.names)} image(s) ({classes})…",
                            *data.notes])  # fmt: skip
        self._runner.start(job, f"training {name}", yielded=self._on_log, returned=self._on_done,
                         total=round(self._minutes.value * 60), status=status)  # fmt: skip

    def _on_log(self, event) -> None:
        if isinstance(event, Status):
            self._runner.say(event.text)
        elif isinstance(event, Record):
            if "iou" in event.values:
                self._context["scores"].append(event.values["iou"])
                self.plot.dice.set(self._context["scores"])
        elif isinstance(event, Progress):
            self.plot.add(event.done, event.values["loss"])
            self._runner.advance(time.monotonic() - self._context["start"])

    def _stop_training(self) -> bool:
        """Cancel: the training ends at its next step and keeps its best weights."""
        self._stop = True
        return False

    def _on_done(self, result) -> None:
        """The model becomes a version of the project (Segment, Batch and Fine-tune list it),
        the base of its pairs' next round; the project is saved in the background."""
        from unet_core.loop import Version

        from .._saving import saver

        c = self._context
        project, data = c["project"], c["data"]
        pairs = [self._pair(image, labels, mode, data.classes) for image, labels, mode in
                 c["pairs"]]  # fmt: skip
        annotated = sum(int(np.sum(lab != IGNORE_LABEL)) for lab in data.labels)
        version = Version(
            name=c["name"], parent=c["ref"], parent_name=self._workspace.describe(c["ref"]),
            kind="trained", steps=result.steps, seconds=round(result.seconds, 1),
            pairs=[p.id for p in pairs], images=list(data.names), corrected_pixels=annotated,
            heldout_dice=result.validation.get("dice"), classes=list(data.classes),
            model=result.model, file=result.path.relative_to(project.folder).as_posix(),
        )  # fmt: skip
        project.add_trained(version, pairs)
        self._workspace.changed()
        iou = result.validation.get("iou")
        how = "stopped early, best weights kept" if result.stopped else "done"
        self._runner.advance(self._progress.max)
        self._runner.say(
            f"{version.name} ({how}): {result.steps} steps in {result.seconds:.0f} s"
            + (f", held-out IoU {iou:.3f}" if iou is not None else "")
            + f"; model file {result.path.name} in the project's versions folder. Choose "
            f"'{version.name}' in Segment or Batch."
        )  # fmt: skip
        self._status.tooltip = str(result.path)
        show_info(self._status.value)
        saver(project).save()  # the project's one save queue, shared with Fine-tune

    def _pair(self, image_layer, labels_layer, mode: str, classes: list[str]):
        """The loop's pair of a layer trained on (made for labels drawn by hand: every
        pixel of corrections counts as annotated)."""
        pair = pair_of(self._viewer, labels_layer)
        if pair is None:
            pair = new_pair(self._viewer, image_layer, labels_layer, mode, classes,
                            pixels=image_pixels(image_layer))  # fmt: skip
            pair.complete = mode == CORRECTIONS
        pair.classes = list(classes)
        return pair


    def _network_rows(self) -> None:
        """The network, its ImageNet weights (for a ResNet), the time and the stall choice."""
        self._size = ComboBox(label="network", choices=NETWORKS, value="medium")
        self._size.tooltip = ("a U-Net by size, or a U-Net whose contracting path is a "
                              "ResNet (from ImageNet weights if you have their file)")
        self._imagenet = FileEdit(label="ImageNet weights", mode="r", visible=False,
                                  filter="*.pth *.pt")  # fmt: skip
        self._imagenet.tooltip = ("optional: the ResNet's ImageNet weights as a file you have "
                                  "(e.g. torchvision's resnet34-*.pth); nothing is downloaded")
        self._minutes = FloatSpinBox(label="minutes", min=0.1, max=600, step=0.5, value=4.0)
        self._stall = ComboBox(label="if held-out stalls", choices=list(STALLS), value=KEEP)
        self._stall.tooltip = ("the held-out score not improving: keep the cosine schedule, "
                               "halve the rate after 2 validations (plateau), or also stop "
                               "after 6 (the best weights are kept)")  # fmt: skip
        self._size.changed.connect(lambda v: setattr(self._imagenet, "visible",
                                                     v.startswith("resnet")))  # fmt: skip

    def _imagenet_file(self) -> str | None:
        """The ImageNet weights file for a ResNet network, if one is given."""
        path = self._imagenet.value
        if not self._size.value.startswith("resnet") or not str(path) or Path(path).is_dir():
            return None
        return str(path)
