"""Eval sets: reading, validating and selecting GPT4Tools evaluation items.

An eval file is the original's format - a JSON list (or JSONL) of
``{"id", "instruction", "input", "output"}`` - optionally with a ``tool`` field (key or name) as the
data pipeline writes it. Official ``gpt4tools_val_seen.json`` / ``gpt4tools_test_unseen.json`` load
unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gpt4tools.catalog import CATALOG, ToolSpec, get_tool
from gpt4tools.data.io import DataFormatError, read_json_records
from gpt4tools.evaluation.scores import NO_TOOL
from gpt4tools.react import STEP_END, first_action, is_tool_output, needs_tool

REQUIRED_FIELDS = ("id", "instruction", "output")
STEP_KINDS = ("first tool call", "next tool after an observation", "answer after an observation", "no-tool request")
"""The decisions an item can test: a request's first tool, a chain's next tool, a chain's closing answer, or a
request that needs no tool."""


class EvalDataError(DataFormatError):
    """An eval or predictions file that cannot be used; the message names the file and the item."""


@dataclass(frozen=True)
class EvalItem:
    """One evaluation item; ``tool`` is the LLM-facing name of the gt tool or :data:`NO_TOOL`."""

    id: str
    instruction: str
    output: str
    input: str = ""
    tool: str = NO_TOOL
    set: str = ""

    @property
    def needs_tool(self) -> bool:
        """Whether the gt output calls a tool (its first thought is ``Yes``); reports score these items and the
        others (no tool needed) apart."""
        return needs_tool(self.output)

    @property
    def step_kind(self) -> str:
        """Which decision the item tests, from its text alone (see :data:`STEP_KINDS`)."""
        after_observation = STEP_END in self.instruction.rsplit("\nNew input:", 1)[-1]
        if not is_tool_output(self.output):
            return STEP_KINDS[2] if after_observation else STEP_KINDS[3]
        return STEP_KINDS[1] if after_observation else STEP_KINDS[0]


def read_records(path: str | Path) -> list:
    """Records of a JSON list or JSONL file (errors name the file and the line)."""
    try:
        data = read_json_records(Path(path))
    except DataFormatError as err:
        raise EvalDataError(str(err)) from None
    if not isinstance(data, list):
        raise EvalDataError(f"{path}: expected a JSON list of items, got {type(data).__name__}")
    return data


def _tool_of(record: dict) -> str:
    tool = record.get("tool")
    if tool and str(tool) not in ("none", NO_TOOL):  # the data pipeline writes "none" for no-tool items
        try:
            return get_tool(str(tool)).name
        except KeyError:
            return str(tool)
    output = str(record["output"])
    action = first_action(output) if is_tool_output(output) else None
    return action if action is not None else NO_TOOL


def load_eval_set(path: str | Path, name: str | None = None) -> list[EvalItem]:
    """Load and validate one eval file.

    Raises:
        EvalDataError: a record that is not an object, lacks ``id``/``instruction``/``output``, has a
            non-string text field, or repeats an id - naming the file, the index and the id.
    """
    path = Path(path)
    name = name or path.stem
    items: list[EvalItem] = []
    seen: set[str] = set()
    for index, record in enumerate(read_records(path)):
        where = f"{path}: item {index}"
        if not isinstance(record, dict):
            raise EvalDataError(f"{where}: expected an object, got {type(record).__name__}")
        if "id" in record:
            where += f" (id={record['id']!r})"
        missing = [f for f in REQUIRED_FIELDS if f not in record or record[f] is None]
        if missing:
            raise EvalDataError(f"{where}: missing field(s) {', '.join(missing)}")
        for field in ("instruction", "output", "input"):
            if field in record and record[field] is not None and not isinstance(record[field], str):
                raise EvalDataError(f"{where}: field {field!r} must be a string")
        item_id = str(record["id"])
        if item_id in seen:
            raise EvalDataError(f"{where}: duplicate id")
        seen.add(item_id)
        items.append(EvalItem(item_id, record["instruction"], record["output"], record.get("input") or "",
                              _tool_of(record), name))
    if not items:
        raise EvalDataError(f"{path}: no items")
    return items


def select_by_tools(items: Iterable[EvalItem], tools: Sequence[ToolSpec] | None,
                    keep_no_tool: bool = True) -> list[EvalItem]:
    """Items whose gt tool is among ``tools`` (None or every catalog tool: all items).

    Items calling no tool are kept when ``keep_no_tool``; items calling a tool outside the catalog
    are kept only when no restriction applies.
    """
    items = list(items)
    if tools is None or {t.key for t in tools} == set(CATALOG):
        return items
    names = {t.name for t in tools}
    return [it for it in items if it.tool in names or (keep_no_tool and it.tool == NO_TOOL)]
