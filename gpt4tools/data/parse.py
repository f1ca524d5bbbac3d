"""Parse raw teacher replies (numbered lines ``instruction, [tool_name, arguments]``) into checked instructions.

Tolerates numbering variants (``1.``, ``1)``, ``(1)``, ``-``, ``*``), quotes, extra brackets and tool-name
variants (matched to the catalog: aliases first, then fuzzy matching with a threshold). Arguments are split
and validated with the tool's schema, so commas inside a text argument survive. Every rejected line is
recorded in a :class:`DropReport` with its reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from gpt4tools.catalog import CATALOG, ArgKind, ArgumentError, ToolSpec, parse_action_input

IMAGE_TOKEN = "example.jpg"
"""The image name the teacher is told to use; replaced by a random path at conversion."""

# Variants a teacher writes, seen in the original's cleaning rules and in practice.
TOOL_ALIASES = {
    "detect the given object": "Text2Box",
    "detect given object": "Text2Box",
    "detect object": "Text2Box",
    "detect give object": "Text2Box",
    "object detection": "Text2Box",
    "segment given object": "ObjectSegmenting",
    "segment the given object": "ObjectSegmenting",
    "segment object": "ObjectSegmenting",
    "segment image": "Segmenting",
    "image captioning": "ImageCaptioning",
    "visual question answering": "VisualQuestionAnswering",
    "text detection": "TextDetection",
    "ocr": "TextDetection",
    "detect all objects": "ObjectDetection",
    "crop": "ImageCropping",
}

_NUMBERING = re.compile(r"^\s*(?:\(?\d{1,3}\s*[.):\]]|[-*\u2022]|#\s*\d{1,3}[.:)]?|step\s*\d+\s*[.:])\s*", re.I)
_TRAILING = " \t.;,"


@dataclass(frozen=True, slots=True)
class Instruction:
    """One cleaned teacher instruction: what the user asks and the tool call that answers it."""

    image_id: str
    instruction: str
    tool: str  # catalog key
    args: tuple[str, ...]  # validated; the image argument is still IMAGE_TOKEN
    raw: str = ""


@dataclass
class DropReport:
    """Counts and examples of every dropped line, by reason."""

    max_examples: int = 5
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    kept: int = 0

    def add(self, reason: str, line: str) -> None:
        """Record one dropped line."""
        self.counts[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.max_examples:
            ex.append(line[:300])

    @property
    def dropped(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: DropReport) -> DropReport:
        """Add another report's counts and examples to this one."""
        for reason, n in other.counts.items():
            self.counts[reason] += n
            ex = self.examples.setdefault(reason, [])
            ex.extend(other.examples.get(reason, [])[: max(0, self.max_examples - len(ex))])
        self.kept += other.kept
        return self

    def to_dict(self) -> dict:
        """JSON-ready form: kept, dropped, and per reason a count and examples."""
        return {"kept": self.kept, "dropped": self.dropped,
                "reasons": {r: {"count": n, "examples": self.examples.get(r, [])}
                            for r, n in self.counts.most_common()}}


class ToolNameMatcher:
    """Maps a tool name as written by a teacher to a catalog key (exact, alias, then fuzzy)."""

    def __init__(self, threshold: float = 88.0, specs: Iterable[ToolSpec] | None = None):
        self.threshold = threshold
        specs = list(specs or CATALOG.values())
        self._names = {s.name.lower(): s.key for s in specs}
        self._names.update({s.key.lower(): s.key for s in specs})
        self._choices = list(self._names)
        self._cache: dict[str, str | None] = {}

    def __call__(self, name: str) -> str | None:
        """The catalog key for ``name``, or None when nothing matches well enough."""
        if name in self._cache:
            return self._cache[name]
        norm = " ".join(name.strip().strip("'\"`*").lower().split())
        key = self._names.get(norm) or TOOL_ALIASES.get(norm)
        if key is None and norm:
            best = process.extract(norm, self._choices, scorer=fuzz.ratio, limit=2)
            if best and best[0][1] >= self.threshold:
                # ambiguous when two different tools score alike
                if len(best) < 2 or self._names[best[1][0]] == self._names[best[0][0]] or best[0][1] - best[1][1] >= 3:
                    key = self._names[best[0][0]]
        self._cache[name] = key
        return key


def _split_tail(line: str) -> tuple[str, str] | None:
    """Split ``instruction, [tool, args]`` at the outer bracket that ends the line."""
    if not line.endswith("]"):
        return None
    depth = 0
    for i in range(len(line) - 1, -1, -1):
        ch = line[i]
        if ch == "]":
            depth += 1
        elif ch == "[":
            depth -= 1
            if depth == 0:
                return line[:i], line[i + 1: -1]
    return None


class ReplyParser:
    """Parses and validates teacher reply lines for a set of allowed tools."""

    def __init__(self, allowed_tools: Iterable[str] | None = None, fuzzy_threshold: float = 88.0,
                 min_words: int = 2, max_chars: int = 600):
        self.allowed = set(allowed_tools) if allowed_tools is not None else None
        self.match_tool = ToolNameMatcher(fuzzy_threshold)
        self.min_words = min_words
        self.max_chars = max_chars

    def parse_line(self, line: str, image_id: str = "") -> Instruction | str:
        """An :class:`Instruction`, or the drop reason (a short string) for a bad line."""
        text = _NUMBERING.sub("", line.strip(), count=1).strip().rstrip(_TRAILING)
        if text.endswith(("]\"", "]'", "])")):
            text = text[:-1].rstrip(_TRAILING)
        parts = _split_tail(text)
        if parts is None:
            return "no_tool_call"
        instruction, call = parts
        instruction = instruction.strip().rstrip(",:;-").strip().strip("\"'`").strip()
        if instruction.lower().startswith("instruction:"):
            instruction = instruction[len("instruction:"):].strip().strip("\"'")
        if not instruction:
            return "empty_instruction"
        if len(instruction) > self.max_chars:
            return "instruction_too_long"
        if len(instruction.split()) < self.min_words:
            return "instruction_too_short"
        name, _, arg_text = call.partition(",")
        key = self.match_tool(name)
        if key is None:
            return "unknown_tool"
        if self.allowed is not None and key not in self.allowed:
            return "tool_not_in_split"
        spec = CATALOG[key]
        arg_text = arg_text.replace('"', "").strip()
        try:
            args = parse_action_input(spec, arg_text) if spec.args else []
        except ArgumentError:
            return "bad_arguments"
        clean: list[str] = []
        for kind, arg in zip(spec.args, args):
            arg = arg.strip()
            if len(arg) > 1 and arg[0] == arg[-1] == "'":
                arg = arg[1:-1].strip()
            if kind is ArgKind.IMAGE:
                if arg.lower() != IMAGE_TOKEN:
                    return "bad_image_argument"
                arg = IMAGE_TOKEN
            elif kind is ArgKind.BOX:
                x1, y1, x2, y2 = (float(v) for v in arg.strip("[]").split(","))
                if not (x1 < x2 and y1 < y2):
                    return "bad_box"
            elif not arg or IMAGE_TOKEN in arg.lower():
                return "bad_arguments"
            clean.append(arg)
        return Instruction(image_id, instruction, key, tuple(clean), line.strip())

    def parse_reply(self, image_id: str, reply: str, report: DropReport) -> list[Instruction]:
        """Every good instruction of one reply; each bad non-empty line goes to ``report``."""
        out = []
        for line in reply.splitlines():
            if not line.strip():
                continue
            result = self.parse_line(line, image_id)
            if isinstance(result, str):
                report.add(result, line)
            else:
                out.append(result)
        return out
