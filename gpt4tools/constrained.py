"""Constrained action names: after ``Action:`` a step may only name a tool that its prompt lists.

Free generation can name a tool that is not offered ("Detect all the objects in this image"), which an
agent cannot run and a scorer counts as wrong. Under the constraint, from the first token after
``Action:`` to the end of that line, only tokens that keep the line a prefix of `` <listed name>\\n`` may
be generated; the rest of the step (the Yes/No, the input, an answer) is free. Which listed tool is named
stays the model's choice: at every constrained position the best-scoring allowed token wins. Names are
followed along the tokens they are written with in training (the tokenizer's own split of
``Action: <name>``); a line that has left that split continues through any token that fits the text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from transformers import LogitsProcessor

from gpt4tools.prompt import listed_tool_names
from gpt4tools.react import open_action_name

log = logging.getLogger(__name__)

_TOKEN_TABLES: dict[tuple[str, int], dict[str, list[int]]] = {}

AllowedTokens = Callable[[int, Sequence[int]], Sequence[int] | None]
"""``(prompt index, tokens generated so far) -> token ids allowed next``, or None for no constraint."""


def token_table(tokenizer) -> dict[str, list[int]]:
    """Each decoded token text -> the ids that decode to it (special tokens and partial characters left out).

    Built once per tokenizer (one decode per vocabulary entry).
    """
    key = (getattr(tokenizer, "name_or_path", ""), len(tokenizer))
    if key not in _TOKEN_TABLES:
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        ids = [i for i in range(len(tokenizer)) if i not in special]
        table: dict[str, list[int]] = {}
        for i, text in zip(ids, tokenizer.batch_decode([[i] for i in ids])):
            if text and "\ufffd" not in text:
                table.setdefault(text, []).append(i)
        _TOKEN_TABLES[key] = table
    return _TOKEN_TABLES[key]


class ActionNameConstraint:
    """The tokens allowed after ``Action:`` for one prompt's listed tools."""

    def __init__(self, tokenizer, names: Sequence[str]) -> None:
        if not names:
            raise ValueError("an action-name constraint needs at least one tool name")
        self.tokenizer = tokenizer
        self.names = list(names)
        self.lines = [f" {name}\n" for name in self.names]
        self.table = token_table(tokenizer)
        head = tokenizer("Action:", add_special_tokens=False)["input_ids"]
        self.paths = [self._canonical(head, line) for line in self.lines]

    def _canonical(self, head: list[int], line: str) -> list[tuple[str, int]]:
        """(text so far, next token id) along the tokenizer's own split of ``line`` after ``Action:`` (``head``)."""
        full = self.tokenizer("Action:" + line, add_special_tokens=False)["input_ids"]
        if full[:len(head)] != head:
            return []  # the split crosses the colon: only the text rule applies
        steps, text = [], ""
        for token in full[len(head):]:
            steps.append((text, token))
            text += self.tokenizer.decode([token])
        return steps if text == line else []

    @classmethod
    def for_prompt(cls, tokenizer, prompt: str) -> ActionNameConstraint | None:
        """The constraint for a rendered prompt's ``should be one of [...]`` list (None when it lists no tools)."""
        names = listed_tool_names(prompt)
        return cls(tokenizer, names) if names else None

    def allowed(self, new_ids: Sequence[int]) -> list[int] | None:
        """Token ids allowed after ``new_ids`` (the step so far); None outside an unfinished action name."""
        partial = open_action_name(self.tokenizer.decode(list(new_ids), skip_special_tokens=True))
        if partial is None:
            return None
        allowed: set[int] = set()
        for line, path in zip(self.lines, self.paths):
            if not line.startswith(partial):
                continue
            on_path = [token for prefix, token in path if prefix == partial]
            if on_path:
                allowed.update(on_path)
                continue
            rest = line[len(partial):]
            for k in range(1, len(rest) + 1):
                allowed.update(self.table.get(rest[:k], ()))
        if not allowed:
            if not any(line.startswith(partial) for line in self.lines):
                return None  # the line already left the listed names (it began before the constraint applied)
            log.warning("no token continues %r towards a listed tool name; leaving the step unconstrained", partial)
            return None
        return sorted(allowed)


def prompt_constraints(tokenizer, prompts: Sequence[str]) -> AllowedTokens:
    """An :data:`AllowedTokens` for rendered ``prompts``: each constrained to its own listed tools."""
    constraints = [ActionNameConstraint.for_prompt(tokenizer, p) for p in prompts]

    def allowed(index: int, new_ids: Sequence[int]) -> Sequence[int] | None:
        constraint = constraints[index]
        return None if constraint is None else constraint.allowed(new_ids)

    return allowed


def mask_disallowed(logits: torch.Tensor, allowed: Sequence[int] | None) -> torch.Tensor:
    """``logits`` (one row) with every token outside ``allowed`` at -inf (unchanged when ``allowed`` is None)."""
    if allowed is None:
        return logits
    keep = torch.full_like(logits, float("-inf"))
    index = torch.tensor(list(allowed), dtype=torch.long, device=logits.device)
    keep[index] = logits[index]
    return keep


class AllowedTokensProcessor(LogitsProcessor):
    """A transformers logits processor applying an :data:`AllowedTokens` to each row of a padded batch.

    ``rows[b]`` is the prompt index of batch row ``b``; generated tokens start at ``prompt_width``.
    """

    def __init__(self, allowed: AllowedTokens, rows: Sequence[int], prompt_width: int) -> None:
        self.allowed, self.rows, self.prompt_width = allowed, list(rows), prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for b, index in enumerate(self.rows):
            ids = input_ids[b, self.prompt_width:].tolist()
            scores[b] = mask_disallowed(scores[b], self.allowed(index, ids))
        return scores
