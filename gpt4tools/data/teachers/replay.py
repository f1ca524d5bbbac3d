"""A teacher that replays raw replies saved earlier: the original's instruction files
(``[{file_name, caption, instructions}]``) or this pipeline's ``raw_<split>.jsonl`` (``{image_id, reply}``).

Lets the cleaning and conversion run again on replies that were paid for once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gpt4tools.data.io import DataFormatError, _list_of_dicts, read_json_records
from gpt4tools.data.teachers.base import Teacher, TeacherRequest


class ReplayTeacher(Teacher):
    """Answers each request with the saved reply of its image (by image_id, id or file_name)."""

    name = "replay"

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike]):
        paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        self.replies: dict[str, str] = {}
        self.paths = [Path(p) for p in paths]
        for path in self.paths:
            for i, item in enumerate(_list_of_dicts(path, read_json_records(path), "reply")):
                reply = item.get("reply", item.get("instructions"))
                ident = item.get("image_id", item.get("id", item.get("file_name")))
                if not isinstance(reply, str) or ident is None:
                    raise DataFormatError(f"{path}: item {i} needs 'image_id' (or 'file_name') and a string "
                                          f"'reply' (or 'instructions')")
                self.replies[str(ident)] = reply

    def complete(self, requests: Sequence[TeacherRequest]) -> list[str]:
        """The saved replies, in request order."""
        missing = [r.image_id for r in requests if r.image_id not in self.replies]
        if missing:
            raise DataFormatError(f"{', '.join(map(str, self.paths))}: no saved reply for image(s) "
                                  f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        return [self.replies[r.image_id] for r in requests]
