"""The model rows every widget shares: a choice among the widget's own first entries (e.g.
"latest"), the bundled models, this session's versions and "model file…" (which shows a file
row: a model file, or a bioimage.io package this tool exported), and one way to turn the
choice into a model name or file."""

from __future__ import annotations

from magicgui.widgets import ComboBox, FileEdit

from .._versions import STORE

MODEL_FILE = "model file…"
BUNDLED = ("drive", "em")


class ModelPicker:
    """Two rows (:attr:`choice`, :attr:`file`) to add to a container; :meth:`spec` resolves
    them. The choices follow the session's versions as they are made."""

    def __init__(self, label: str = "model", value: str = "drive", first: tuple[str, ...] = ()):
        self.first = tuple(first)
        self.choice = ComboBox(label=label, choices=self.choices, value=value)
        self.file = FileEdit(label="model file", filter="*.safetensors *.zip", visible=False)
        self.choice.changed.connect(lambda v: setattr(self.file, "visible", v == MODEL_FILE))
        STORE.changed.connect(self._on_versions_changed)

    @property
    def rows(self) -> list:
        return [self.choice, self.file]

    def choices(self, _=None) -> list[str]:
        return [*self.first, *BUNDLED, *STORE.names(), MODEL_FILE]

    def _on_versions_changed(self) -> None:
        try:
            self.choice.reset_choices()
        except RuntimeError:  # the widget was closed: stop listening
            STORE.changed.disconnect(self._on_versions_changed)

    def spec(self) -> str:
        """The chosen entry: a version's or bundled model's name, a first entry, or the path of
        the chosen file (a one-line ValueError when none is chosen)."""
        if self.choice.value != MODEL_FILE:
            return self.choice.value
        path = self.file.value
        if not path or not path.is_file():
            raise ValueError("choose a model file (.safetensors or a bioimage.io .zip) first")
        return str(path)
