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

from gpt4tools.utils.errors import Gpt4ToolsError

SAMPLE_KEYS = ("instruction", "input", "output")
_BOX_IN_CAPTION = re.compile(
    r"([A-Za-z][\w' -]*?)\s*:?\s*\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]"
)


class DataFormatError(Gpt4ToolsError, ValueError):
    """A data file that does not have the expected form; the message names the file and the item."""


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_BINARY_PROBE = 8192
"""Bytes looked at for NUL bytes, which no JSON text holds: a file with one there is binary."""


def _json_item_at(text: str, offset: int | None = None) -> int | None:
    """In a JSON list, the index of the item that holds character ``offset`` (None: the first item that does not
    parse, or the one a missing comma follows); None when ``text`` is not a list or the place is outside its items."""
    decoder, i = json.JSONDecoder(), _WHITESPACE.match(text).end()
    if not text.startswith("[", i):
        return None
    i, index = i + 1, 0
    while True:
        i = _WHITESPACE.match(text, i).end()
        if i >= len(text) or text.startswith("]", i):
            return None
        try:
            _, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return index if offset is None or offset >= i else None
        if offset is not None and i <= offset < end:
            return index
        i = _WHITESPACE.match(text, end).end()
        if not text.startswith(",", i):
            return index if offset is None and not text.startswith("]", i) else None
        i, index = i + 1, index + 1


def read_text(path: str | os.PathLike, error: type[Exception] = DataFormatError) -> str:
    """The UTF-8 text of a data file.

    Raises:
        ``error`` (default :class:`DataFormatError`): naming the file and what is wrong: missing, a directory or a
        device, unreadable, binary, or not UTF-8 (with the line and, for a JSON list, the item of the first bad byte).
    """
    from gpt4tools.utils.files import not_a_file

    path = Path(path)
    kind = not_a_file(path)
    if kind == "does not exist":
        raise error(f"{path}: file not found")
    if kind is not None:
        raise error(f"{path} {kind}, not a data file: give a JSON or JSONL file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise error(f"{path}: cannot be read ({err.strerror or err})") from None
    if b"\x00" in raw[:_BINARY_PROBE]:
        raise error(f"{path} is a binary file (it holds NUL bytes), not JSON text: give a JSON or JSONL file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        text = raw.decode("utf-8", errors="replace")
        item = _json_item_at(text, len(raw[:err.start].decode("utf-8", errors="replace")))
        where = f"line {line}" + (f", item {item}" if item is not None else "")
        raise error(f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}, {where}): "
                    f"save it as UTF-8") from None


def read_json_records(path: Path, error: type[Exception] | None = None) -> Any:
    """The parsed content of a JSON file, or the list of records of a JSONL file (errors name the file and the line,
    for a JSON list also the item; ``error``: the class raised, default :class:`DataFormatError`)."""
    error = error or DataFormatError
    text = read_text(path, error)
    if path.suffix == ".jsonl":  # no lines: no records (callers that need some say so, naming the file)
        items = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise error(f"{path}: line {lineno} is not valid JSON ({err.msg})") from None
        return items
    if not text.strip():
        raise error(f"{path}: the file is empty; expected JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        item = _json_item_at(text)
        where = f"item {item}, " if item is not None else ""
        raise error(f"{path}: not valid JSON ({where}{err.msg} at line {err.lineno} column {err.colno})") from None


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
