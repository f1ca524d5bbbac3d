"""GPT4Tools sample files -> token ids with loss masks, with clear errors for bad items."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from gpt4tools.prompt import IGNORE_INDEX, encode_sample, get_chat_template
from gpt4tools.utils.errors import Gpt4ToolsError

log = logging.getLogger(__name__)


class DatasetError(Gpt4ToolsError, ValueError):
    """A training or validation file that cannot be trained on; the message names the file and item."""


@dataclass(frozen=True)
class TokenizedSample:
    """One sample ready for batching."""

    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def num_targets(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE_INDEX)


def read_samples(path: str | Path) -> list[dict]:
    """Read a GPT4Tools JSON list of ``{instruction, input, output}`` and check every item.

    Raises:
        DatasetError: missing, unreadable, binary or non-UTF-8 file, not a JSON list, or an item without a string instruction and a
            non-empty output (an item without a target teaches nothing and would be silently useless).
    """
    from gpt4tools.data.io import read_json_records

    path = Path(path)
    items = read_json_records(path, DatasetError)  # missing, binary, not UTF-8 or not JSON: named with the file
    if not isinstance(items, list) or not items:
        raise DatasetError(f"{path}: expected a non-empty JSON list of {{instruction, input, output}} items")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise DatasetError(f"{path}: item {i} is not an object")
        if not isinstance(item.get("instruction"), str) or not item["instruction"].strip():
            raise DatasetError(f"{path}: item {i} has no 'instruction' text")
        out = item.get("output")
        if not isinstance(out, str) or not out.strip():
            raise DatasetError(f"{path}: item {i} (id={item.get('id', '-')}) has no target: 'output' is missing or empty")
        if not isinstance(item.get("input", ""), str):
            raise DatasetError(f"{path}: item {i} has a non-text 'input'")
    return items


def tokenize_samples(items: list[dict], tokenizer, template: str, max_length: int, source: str = "") -> list[TokenizedSample]:
    """Encode items through the chat template; prompt tokens get label -100, target tokens (end included) keep theirs.

    Raises:
        DatasetError: when a target alone does not fit ``max_length`` (it would be cut, teaching a wrong end).
    """
    template = get_chat_template(template)
    out: list[TokenizedSample] = []
    truncated = 0
    for i, item in enumerate(items):
        try:
            enc = encode_sample(tokenizer, template, item["instruction"], item["output"], item.get("input", ""),
                                max_length=max_length)
        except ValueError as err:
            raise DatasetError(f"{source}: item {i}: {err}") from None
        if enc.num_target_tokens == 0:
            raise DatasetError(f"{source}: item {i} has no target tokens after tokenization")
        truncated += int(len(enc.input_ids) == max_length)
        out.append(TokenizedSample(enc.input_ids, enc.labels))
    if truncated:
        log.warning("%s: %d of %d prompts were cut from the left to max_length=%d", source, truncated, len(items),
                    max_length)
    return out
