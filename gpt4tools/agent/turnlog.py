"""Every turn of the agent as one JSON line in the workspace."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any


class TurnLog:
    """Appends one JSON object per turn to ``path`` (created on first write), safe across threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` with a UTC timestamp; the line is flushed at once."""
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record},
                          ensure_ascii=False, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")

    def read(self) -> list[dict[str, Any]]:
        """Every record written so far (for tests and tools that replay a session)."""
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
