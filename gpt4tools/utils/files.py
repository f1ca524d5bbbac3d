"""File-system helpers shared across stages."""

from __future__ import annotations

import os
import shutil
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
