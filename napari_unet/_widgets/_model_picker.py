"""The model rows every widget shares: a choice among the widget's own first entries (e.g.
"latest"), the bundled models, the versions of the window's projects (by identity: two
projects' "fine-tuned v1" are two entries) and "model file…" (which shows a file row), and one
way to turn the choice into a model reference; the devices a widget offers."""

from __future__ import annotations

from magicgui.widgets import ComboBox, FileEdit

MODEL_FILE = "model file…"


def bundled() -> tuple[str, ...]:
    """The bundled models' names (from the core: one list of them)."""
    from unet_core.formats.store import bundled_models

    return tuple(bundled_models())


class ModelPicker:
    """Two rows (:attr:`choice`, :attr:`file`) to add to a container; :meth:`ref` resolves
    them. The choices follow the window's versions as they are made and opened."""

    def __init__(self, workspace, label: str = "model", value: str = "drive",
                 first: tuple[str, ...] = ()):  # fmt: skip
        self.workspace = workspace
        self.first = tuple(first)
        self.choice = ComboBox(label=label, choices=self.choices, value=value)
        self.file = FileEdit(label="model file", filter="*.safetensors *.zip", visible=False)
        self.choice.changed.connect(lambda v: setattr(self.file, "visible", v == MODEL_FILE))
        workspace.listeners.append(self._on_versions_changed)

    @property
    def rows(self) -> list:
        return [self.choice, self.file]

    def choices(self, _=None) -> list[tuple[str, str]]:
        versions = [(self.workspace.label(v), v.ref) for v in self.workspace.versions()]
        plain = [*self.first, *bundled()]
        return [(c, c) for c in plain] + versions + [(MODEL_FILE, MODEL_FILE)]

    def _on_versions_changed(self) -> None:
        try:
            self.choice.reset_choices()
        except RuntimeError:  # the widget was closed: stop listening
            self.workspace.listeners.remove(self._on_versions_changed)

    def ref(self) -> str:
        """The chosen model as a reference: a version's (``version:<id>``), a bundled model's
        name, a first entry, or the chosen file's path (a one-line ValueError when none is
        chosen)."""
        if self.choice.value != MODEL_FILE:
            return self.choice.value
        path = self.file.value
        if not path or not path.is_file():
            raise ValueError("choose a model file (.safetensors or a bioimage.io .zip) first")
        return str(path)


def device_choices() -> list[str]:
    """The devices a widget offers: "auto", then those this machine has."""
    from unet_core.base.device import available_devices

    return ["auto", *available_devices()]
