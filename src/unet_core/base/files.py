"""Writing files so that nothing half-written is ever left under the final name."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path


def umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: swap and restore (a brief window, once per file)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=path.suffix + ".part",
                               dir=path.parent)  # fmt: skip
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, file_mode())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def temp_prefix(path: Path) -> str:
    """The start of a temporary name for ``path``: hidden, and naming this process, so that
    :func:`remove_stale_parts` can tell a killed run's leftovers from a live run's files."""
    return f".{path.stem}.{os.getpid()}-"


#: the name of a temporary file written by :func:`atomic_write` (group 1: the writer's pid)
PART_NAME = re.compile(r"^\..*\.(\d+)-[^.]*\..*part$")


def remove_stale_parts(folder: Path) -> list[Path]:
    """Delete the temporary files that runs killed mid-write (SIGKILL, power loss) left in
    ``folder``: those of processes that no longer exist. Returns what was removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = PART_NAME.match(entry.name)
            if match and entry.is_file(follow_symlinks=False) and not _alive(int(match[1])):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or no way to ask: assume it is alive
        return True
    return True


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike):
    """Hold an exclusive lock on ``folder`` (``flock`` on the directory itself, so no lock
    file is left behind) while a shared file in it is read and rewritten by one process at a
    time. Where ``flock`` does not exist (Windows) it locks nothing."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def file_mode() -> int:
    """The permissions a new file gets from this process's umask (mkstemp makes 0600)."""
    return 0o666 & ~umask()
