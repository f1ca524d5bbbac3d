"""File-system helpers shared across stages."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock


def build_dir_atomically(target: Path, build: Callable[[Path], None],
                         is_complete: Callable[[Path], bool] | None = None) -> Path:
    """Create the folder ``target`` once, safely when several processes race.

    ``build(tmp)`` fills a temporary sibling folder, which is then renamed into place, so readers
    never see a half-written folder. ``is_complete(target)`` says whether an existing folder can be
    reused (default: a ``.complete`` marker written after a successful build).
    """
    def default_complete(path: Path) -> bool:
        return (path / ".complete").exists()

    done = is_complete or default_complete
    if done(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if done(target):
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            build(tmp)
            if is_complete is None:
                (tmp / ".complete").write_text("ok\n")
            tmp.chmod(0o755)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def not_a_file(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it is not a regular file, in words (``does not exist``, ``is a directory``,
    ``is a character device`` ...); None for a regular file (symbolic links followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except PermissionError:
        return "cannot be read (permission denied on a folder above it)"
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if stat.S_ISREG(mode):
        return None
    for test, what in ((stat.S_ISDIR, "is a directory"), (stat.S_ISCHR, "is a character device"),
                       (stat.S_ISBLK, "is a block device"), (stat.S_ISFIFO, "is a named pipe"),
                       (stat.S_ISSOCK, "is a socket")):
        if test(mode):
            return what
    return "is not a regular file"


def require_file(path: str | os.PathLike, name: str, hint: str, error: type[Exception] | None = None) -> Path:
    """``path`` (user home expanded) when it is a regular file; else ``error`` (default
    :class:`gpt4tools.utils.errors.ConfigError`) saying ``<name>=<path> <what it is>: <hint>``."""
    from gpt4tools.utils.errors import ConfigError

    path = Path(path).expanduser()
    kind = not_a_file(path)
    if kind is not None:
        raise (error or ConfigError)(f"{name}={path} {kind}: {hint}")
    return path
