"""Reading and writing data files with validation: samples, captions, alpaca requests.

Every loader raises :class:`DataFormatError` naming the file and the item index (and field) of the
first malformed item; nothing is skipped silently.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

SAMPLE_KEYS = ("instruction", "input", "output")
_BOX_IN_CAPTION = re.compile(
    r"([A-Za-z][\w' -]*?)\s*:?\s*\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]"
)


class DataFormatError(ValueError):
    """A data file that does not have the expected form; the message names the file and the item."""


def read_json_records(path: Path) -> Any:
    """The parsed content of a JSON file, or the list of records of a JSONL file (errors name file and line)."""
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        items = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataFormatError(f"{path}: line {lineno} is not valid JSON ({err.msg})") from None
        return items
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None


def _list_of_dicts(path: Path, data: Any, what: str) -> list[dict]:
    if isinstance(data, dict) and what == "caption" and "annotations" in data:
        data = data["annotations"]  # COCO-style caption file
    if not isinstance(data, list):
        raise DataFormatError(f"{path}: expected a JSON list of {what} items, got {type(data).__name__}")
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise DataFormatError(f"{path}: item {i} is a {type(item).__name__}, expected an object")
    return data


def load_samples(path: str | os.PathLike, require_id: bool = False) -> list[dict]:
    """Load and validate a GPT4Tools-format sample file (training or evaluation).

    Each item must hold string ``instruction`` and ``output``, and ``input`` when present (a missing
    ``input`` is returned as ""; the file itself is never changed);
    with ``require_id`` also an ``id`` (string or int, unique). Optional ``tool`` must be a string or
    null. Other keys are kept.

    Raises:
        DataFormatError: naming the file, the item index and the field of the first problem.
    """
    path = Path(path)
    items = _list_of_dicts(path, read_json_records(path), "sample")
    if not items:
        raise DataFormatError(f"{path}: no samples")
    ids: set = set()
    for i, item in enumerate(items):
        item.setdefault("input", "")
        for key in SAMPLE_KEYS:
            if key not in item:
                raise DataFormatError(f"{path}: item {i} has no field {key!r}")
            if not isinstance(item[key], str):
                raise DataFormatError(f"{path}: item {i} field {key!r} is {type(item[key]).__name__}, expected a string")
        if not item["instruction"].strip():
            raise DataFormatError(f"{path}: item {i} field 'instruction' is empty")
        if not item["output"].strip():
            raise DataFormatError(f"{path}: item {i} field 'output' is empty")
        if "tool" in item and item["tool"] is not None and not isinstance(item["tool"], str):
            raise DataFormatError(f"{path}: item {i} field 'tool' must be a string or null")
        if require_id:
            if "id" not in item:
                raise DataFormatError(f"{path}: item {i} has no field 'id'")
            if not isinstance(item["id"], (str, int)) or isinstance(item["id"], bool):
                raise DataFormatError(f"{path}: item {i} field 'id' must be a string or an integer")
            if item["id"] in ids:
                raise DataFormatError(f"{path}: item {i} field 'id' repeats {item['id']!r}")
            ids.add(item["id"])
    return items


def load_captions(path: str | os.PathLike) -> list[dict]:
    """Load captions in the teacher's input form.

    Accepts a JSON/JSONL list of ``{caption, image_id|id|file_name}`` items (ours and the original's
    instruction/caption files) or a COCO-style ``{"annotations": [{image_id, caption}]}`` file. Returns
    items ``{"image_id": str, "caption": str, "objects": [(name, [x1, y1, x2, y2]), ...]}``.

    Raises:
        DataFormatError: naming the file and the item of the first malformed caption.
    """
    path = Path(path)
    items = _list_of_dicts(path, read_json_records(path), "caption")
    out = []
    for i, item in enumerate(items):
        caption = item.get("caption")
        if not isinstance(caption, str) or not caption.strip():
            raise DataFormatError(f"{path}: item {i} field 'caption' is missing or not a non-empty string")
        ident = item.get("image_id", item.get("id", item.get("file_name", i)))
        if not isinstance(ident, (str, int)):
            raise DataFormatError(f"{path}: item {i} field 'image_id' must be a string or an integer")
        out.append({"image_id": str(ident), "caption": " ".join(caption.split()), "objects": caption_objects(caption)})
    if not out:
        raise DataFormatError(f"{path}: no captions")
    return out


def caption_objects(caption: str) -> list[tuple[str, list[int]]]:
    """Objects with boxes written in a caption (``name [x1, y1, x2, y2]``), in order."""
    objects = []
    for m in _BOX_IN_CAPTION.finditer(caption):
        name = m.group(1).strip().strip(",.;").strip()
        name = re.sub(r"^(?:and|with|a|an|the)\s+", "", name, flags=re.I)
        if name:
            objects.append((name, [round(float(m.group(k))) for k in range(2, 6)]))
    return objects


def caption_scene(caption: str) -> str:
    """The descriptive part of a caption (before the object list)."""
    m = _BOX_IN_CAPTION.search(caption)
    return (caption[: m.start()] if m else caption).strip()


def load_alpaca(path: str | os.PathLike) -> list[dict]:
    """Load an alpaca-format file (list of ``{instruction, input, output}``), as alpaca_gpt4_data.json.

    Raises:
        DataFormatError: naming the file, the item and the field of the first problem.
    """
    path = Path(path)
    items = _list_of_dicts(path, read_json_records(path), "alpaca")
    for i, item in enumerate(items):
        for key in ("instruction", "output"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise DataFormatError(f"{path}: item {i} field {key!r} is missing or empty")
        if not isinstance(item.get("input", ""), str):
            raise DataFormatError(f"{path}: item {i} field 'input' must be a string")
    if not items:
        raise DataFormatError(f"{path}: no items")
    return [{"instruction": it["instruction"], "input": it.get("input", ""), "output": it["output"]} for it in items]


def write_json_atomic(path: str | os.PathLike, data: Any, indent: int | None = None) -> None:
    """Write JSON to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=indent, ensure_ascii=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
