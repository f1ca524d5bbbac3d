"""Where a generated step ends: one stop-string rule for every generation engine.

A step stops at ``\\nObservation:`` (the tool's result is not the model's to write), at the chat template's end
of turn written as text, and at any extra strings a caller adds (the agent's ``\\nHuman:``). Every engine
asks :class:`StopStrings`: the continuous-batch decoder (:mod:`gpt4tools.decoding`) after each token,
``model.generate`` through :meth:`StopStrings.criteria`, an OpenAI-compatible server through the list
itself; all of them trim their text with :meth:`StopStrings.cut`, and streaming holds back
:meth:`StopStrings.pending` characters that could still become a stop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from gpt4tools.prompt import ChatTemplate, get_chat_template
from gpt4tools.react import STEP_END

TAIL_TOKENS = 16
"""Tokens decoded at the end of a row to look for a stop string (stop strings are a few tokens long)."""

_CRITERIA: OrderedDict[tuple, Any] = OrderedDict()
_CRITERIA_KEPT = 32  # stop lists whose criteria stay built (an API client may send its own)


class StopStrings:
    """An ordered set of stop strings (empty strings dropped, duplicates kept once)."""

    def __init__(self, strings: Iterable[str] = ()) -> None:
        self.strings: tuple[str, ...] = tuple(dict.fromkeys(s for s in strings if s))

    @classmethod
    def for_step(cls, template: ChatTemplate | str | None = None, extra: Iterable[str] = ()) -> StopStrings:
        """The stops of one assistant step: ``\\nObservation:``, the template's end of turn, then ``extra``."""
        own = get_chat_template(template).stop if template is not None else ()
        return cls([STEP_END, *own, *extra])

    def __iter__(self) -> Iterator[str]:
        return iter(self.strings)

    def __len__(self) -> int:
        return len(self.strings)

    def __contains__(self, text: object) -> bool:
        return text in self.strings

    def __repr__(self) -> str:
        return f"StopStrings({list(self.strings)!r})"

    def position(self, text: str) -> int | None:
        """Index of the earliest stop string in ``text`` (None when there is none)."""
        found = [i for i in (text.find(s) for s in self.strings) if i != -1]
        return min(found) if found else None

    def cut(self, text: str) -> str:
        """``text`` up to (not including) the earliest stop string."""
        end = self.position(text)
        return text if end is None else text[:end]

    def pending(self, text: str) -> int:
        """Length of the longest tail of ``text`` that is a proper prefix of a stop string (streaming holds it back
        until the next piece says whether it stops)."""
        best = 0
        for stop in self.strings:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:n]):
                    best = n
                    break
        return best

    def in_tokens(self, token_ids: Sequence[int], tokenizer: Any) -> bool:
        """Whether the last :data:`TAIL_TOKENS` of a row, decoded, hold a stop string."""
        if not self.strings:
            return False
        tail = tokenizer.decode(list(token_ids[-TAIL_TOKENS:]), skip_special_tokens=False)
        return self.position(tail) is not None

    def criteria(self, tokenizer: Any):
        """A ``model.generate`` stopping criterion for these strings, built once per tokenizer: building it scans
        the whole vocabulary (seconds), and transformers' own cache, keyed by the vocabulary, misses for fast
        tokenizers."""
        key = (getattr(tokenizer, "name_or_path", ""), len(tokenizer), self.strings)
        if key not in _CRITERIA:
            from transformers import StopStringCriteria

            _CRITERIA[key] = StopStringCriteria(tokenizer, list(self.strings))
            while len(_CRITERIA) > _CRITERIA_KEPT:
                _CRITERIA.popitem(last=False)
        _CRITERIA.move_to_end(key)
        return _CRITERIA[key]
