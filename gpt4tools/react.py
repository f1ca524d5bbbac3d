"""The one ReAct parser: reading ``Thought`` / ``Action`` / ``Action Input`` / ``AI`` steps back from text.

A GPT4Tools assistant step is either a tool call or an answer::

    Thought: Do I need to use a tool? Yes          Thought: Do I need to use a tool? No
    Action: <tool name>                             AI: <response>
    Action Input: <arguments>
    Observation: <written by the caller, not the model>

Two readings, both over the same line patterns:

* :func:`find_lines` - every thought, action, action input and answer line of a text, in order, values
  stripped: the original ``eval/evaluate_result.py`` regexes, quirks included (the ``compat`` scorer is a
  thin layer on it);
* :func:`parse_step` - the first step only, cut at its ``Observation:`` and before a second ``Thought:``:
  what an agent runs (the agent loop, the ``strict`` scorer).

Step texts are written by :mod:`gpt4tools.prompt` (``tool_step``, ``final_step``); constrained decoding asks
:func:`open_action_name`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

THOUGHT_PREFIX = "Thought: Do I need to use a tool?"
OBSERVATION_PREFIX = "Observation:"
STEP_END = "\n" + OBSERVATION_PREFIX
"""Where a tool step ends and the tool's observation begins (generation stops there)."""

# The original scorer's patterns, byte for byte (``.`` stops at a newline; values are stripped afterwards).
THOUGHT_RE = re.compile(r"Thought: Do I need to use a tool\? (.*)")
ACTION_RE = re.compile(r"Action: (.*)")
ACTION_INPUT_RE = re.compile(r"Action Input: (.*)")
AI_RE = re.compile(r"AI: (.*)")

_ANSWER_RE = re.compile(r"AI: (.*)", re.DOTALL)  # an answer runs to the end of its step
_OBSERVATION_RE = re.compile(r"\n?Observation:")
_NEXT_THOUGHT = "\nThought:"
_ACTION_LINE_RE = re.compile(r"(?:^|\n)Action:")


@dataclass(frozen=True)
class StepLines:
    """Every ReAct line value of a text, in order of appearance (stripped)."""

    thoughts: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    action_inputs: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)


def _found(pattern: re.Pattern, text: str) -> list[str]:
    return [m.strip() for m in pattern.findall(text)]


def find_lines(text: str) -> StepLines:
    """All thought, action, action-input and ``AI:`` line values of ``text`` (the original scorer's view)."""
    return StepLines(_found(THOUGHT_RE, text), _found(ACTION_RE, text), _found(ACTION_INPUT_RE, text),
                     _found(AI_RE, text))


def is_tool_output(text: str) -> bool:
    """The original scorer's test for a tool-use gt output: it holds both ``Action:`` and ``Action Input:``."""
    return "Action:" in text and "Action Input:" in text


def needs_tool(gt_output: str) -> bool:
    """Whether a gt output calls a tool: its first thought is ``Yes`` (the reports' tool / no-tool split)."""
    thoughts = _found(THOUGHT_RE, gt_output)
    return bool(thoughts) and thoughts[0] == "Yes"


def first_action(text: str) -> str | None:
    """The value of the first ``Action:`` line (None when there is none)."""
    m = ACTION_RE.search(text)
    return m.group(1).strip() if m else None


@dataclass
class ReActStep:
    """One parsed assistant step; parts the text lacks stay None."""

    thought: str | None = None  # "Yes", "No", or whatever followed the thought prefix
    action: str | None = None
    action_input: str | None = None
    answer: str | None = None  # text after "AI:" in a step that calls no tool

    @property
    def uses_tool(self) -> bool:
        """Whether the step names a tool."""
        return self.action is not None


def first_step(text: str) -> str:
    """``text`` up to its first ``Observation:`` and before a second ``Thought:`` line.

    What follows is the model imagining the tool's result or its own next turn (an answer followed by an
    invented tool call, say), which no agent runs.
    """
    return _OBSERVATION_RE.split(text, maxsplit=1)[0].split(_NEXT_THOUGHT, 1)[0]


def parse_step(text: str) -> ReActStep:
    """The first assistant step of a model output (tolerant: missing parts stay None)."""
    text = first_step(text)
    step = ReActStep()
    for name, pattern in (("thought", THOUGHT_RE), ("action", ACTION_RE), ("action_input", ACTION_INPUT_RE)):
        if m := pattern.search(text):
            setattr(step, name, m.group(1).strip())
    if step.action is None and (m := _ANSWER_RE.search(text)):
        step.answer = m.group(1).strip()
    return step


def open_action_name(text: str) -> str | None:
    """The action name being written at the end of ``text`` (what follows its last line-start ``Action:``), or
    None when no action line is open (none yet, or the last one has ended with a newline)."""
    starts = [m.end() for m in _ACTION_LINE_RE.finditer(text)]
    if not starts:
        return None
    partial = text[starts[-1]:]
    return None if "\n" in partial else partial
