"""A question in the widget itself: one line saying what is wrong and a button per way out
(e.g. labels made on another image: use that image, or train on this one anyway). Hidden until
asked; answering hides it and runs the chosen action."""

from __future__ import annotations

from collections.abc import Callable

from magicgui.widgets import Container, Label, PushButton


class ChoiceRow:
    """Rows to add to a container: :meth:`ask` shows them, an answer hides them."""

    def __init__(self) -> None:
        self.question = Label(value="", visible=False)
        self.question.native.setWordWrap(True)
        self.first, self.second = PushButton(visible=False), PushButton(visible=False)
        self.buttons = Container(widgets=[self.first, self.second], labels=False, visible=False)
        self._actions: list[Callable[[], object] | None] = [None, None]
        self.open = False  # a question is waiting for its answer
        self.first.changed.connect(lambda *_: self._answer(0))
        self.second.changed.connect(lambda *_: self._answer(1))

    @property
    def rows(self) -> list:
        return [self.question, self.buttons]

    def ask(self, text: str, *answers: tuple[str, Callable[[], object]]) -> None:
        """Show ``text`` with up to two ``(button text, action)`` answers."""
        self.question.value = text
        for button, slot in zip((self.first, self.second), range(2)):
            if slot < len(answers):
                text, self._actions[slot] = answers[slot]
                button.text, button.tooltip = elided(text), text
                button.visible = True
            else:
                button.visible, self._actions[slot] = False, None
        self.question.visible = self.buttons.visible = self.open = True

    def close(self) -> None:
        self.question.visible = self.buttons.visible = self.open = False
        self._actions = [None, None]

    def _answer(self, slot: int) -> None:
        action = self._actions[slot]
        self.close()
        if action is not None:
            action()


#: the most characters a button's text shows (a layer's long name would widen the dock)
BUTTON_CHARACTERS = 30


def elided(text: str, limit: int = BUTTON_CHARACTERS) -> str:
    """``text`` cut to ``limit`` characters, its quoted name shortened in the middle first (its
    start and end kept: "Use 'IM0001…visit3'" and "…visit4'" stay apart)."""
    if len(text) <= limit:
        return text
    if text.endswith("'") and "'" in text[:-1]:
        head, name = text[:-1].split("'", 1)
        keep = max(limit - len(head) - 3, 4)
        return f"{head}'{name[: keep - keep // 2]}…{name[len(name) - keep // 2:]}'"
    return text[: limit - 1] + "…"
