"""An on-disk reply cache keyed by request: one JSON file per request, written atomically.

An interrupted generation resumes from it (answered requests are read back, not asked again) and a
rerun with the same requests costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from gpt4tools.data.io import write_json_atomic
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


class ReplyCache:
    """Maps a request (any JSON-serializable dict) to its reply text."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path(self, request: dict) -> Path:
        """The file that holds the reply to ``request``."""
        digest = hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest}.json"

    def get(self, request: dict) -> str | None:
        """The cached reply, or None (a corrupt entry is reported and ignored)."""
        path = self.path(request)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))["content"]
        except (json.JSONDecodeError, KeyError):
            log.warning("ignoring a corrupt cache entry %s", path)
            return None

    def put(self, request: dict, content: str, usage: dict | None = None) -> None:
        """Store a reply."""
        write_json_atomic(self.path(request), {"request": request, "content": content, "usage": usage or {}})
