"""Uploaded images: checked for type, byte size and pixel count from their header before they are decoded.

The checks are the workspace's own (:func:`gpt4tools.tools.workspace.open_image_file`, which the tools CLI uses
too); an upload is copied, at most one byte past the limit, to a temporary file for them.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from PIL import Image


def shown_name(filename: str | None) -> str:
    """A client's file name fit for a message: its last part, plain characters only, at most 80 of them."""
    name = Path((filename or "").replace("\\", "/")).name
    return re.sub(r"[^\w. ()-]", "_", name)[:80] or "upload"


def read_upload(file: BinaryIO, filename: str | None, max_bytes: int, max_pixels: int) -> Image.Image:
    """Check and decode an uploaded image into RGB.

    Raises:
        ImageTooLarge: more than ``max_bytes`` bytes or ``max_pixels`` pixels, or a decompression bomb.
        ImageFileError: not an image, or not of an accepted type.
    """
    from gpt4tools.tools.workspace import open_image_file

    with tempfile.TemporaryDirectory(prefix="gpt4tools-upload-") as tmp:
        path = Path(tmp) / "upload"
        with path.open("wb") as out:
            shutil.copyfileobj(_Limited(file, max_bytes + 1), out)
        return open_image_file(path, max_bytes, max_pixels, shown=shown_name(filename))


class _Limited:
    """A reader that stops after ``limit`` bytes."""

    def __init__(self, file: BinaryIO, limit: int) -> None:
        self.file = file
        self.left = limit

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.file.read(size)
        self.left -= len(data)
        return data
