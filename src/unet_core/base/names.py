"""File names as text: any name a file system allows, written where text is expected.

A name may hold bytes that are not UTF-8 (Python keeps them as surrogate escapes, which no
UTF-8 file or terminal accepts) and control characters such as a newline; either would break
a CSV row or a one-line message.
"""

from __future__ import annotations

import os


def path_text(path: str | os.PathLike) -> str:
    """``path`` as valid Unicode: bytes that are not UTF-8 written as ``\\xNN``, and on POSIX a
    backslash in a name as ``\\\\`` (so that a name holding the text ``\\xe9`` and one holding
    the byte 0xe9 stay apart; Windows paths, where it separates folders, are kept as they are).
    Newlines and other characters are kept (a CSV writer quotes them)."""
    text = os.fspath(path)
    if os.name != "nt":
        text = text.replace("\\", "\\\\")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


def one_line(text: str | os.PathLike) -> str:
    """:func:`path_text`, with control characters (a newline in a file name) escaped as in
    Python literals, for a message that must stay on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in path_text(text))
