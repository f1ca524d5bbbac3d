"""The ``strict`` scorer: arguments parsed by the tool schema, exact image paths, honest failures.

Differences from ``compat`` (the original rules), each deliberate:

* the prediction is cut at its first ``Observation:`` and at a second ``Thought:`` line - what follows
  is the model imagining the tool's result or its own next turn, which a real agent never lets it write
  or run (:func:`gpt4tools.react.parse_step`, the parser the agent runs on);
* the thought must be exactly ``Yes`` (tool items) or ``No`` (no-tool items); no forgiveness needed;
* arguments are split by the **gt tool's schema** (:func:`gpt4tools.catalog.parse_action_input`),
  so commas inside a text argument are fine; an input that does not fit the schema scores 0;
* image arguments must equal the gt path exactly; box arguments must equal the gt box exactly;
  a text argument scores :func:`text_similarity` (rapidfuzz ``token_sort_ratio`` / 100 on
  lower-cased, punctuation-free text: word order and case do not matter, wrong words do);
  the step's args score is 0 if any image/box argument is wrong, else the mean over arguments;
* SR_args is the mean over arguments; success needs thought == 1, action == 1 and **every**
  argument >= ``args_threshold`` (0.5) - with compat an exact image path alone lifts the mean to 0.5;
* no-tool items need the thought ``No``, a non-empty ``AI:`` answer and no ``Action:`` line;
* a gt item with no prediction is a failure (all zeros), not skipped.

A gt tool the catalog does not know (custom eval files) gets a schema guessed from its gt input:
an image path first when the first comma-separated piece is a path, then one text argument.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from gpt4tools.catalog import ArgKind, ArgumentError, OutputKind, ToolSpec, find_by_name, parse_action_input
from gpt4tools.evaluation.scores import NO_TOOL, ItemScore
from gpt4tools.react import find_lines, first_action, is_tool_output, parse_step

_IMAGE_RE = re.compile(r"\.(png|jpe?g|bmp|gif|webp)$", re.IGNORECASE)


def text_similarity(gt: str, pred: str) -> float:
    """Similarity of two text arguments in [0, 1]: rapidfuzz token_sort_ratio on normalised text."""
    a, b = default_process(gt), default_process(pred)
    if not a and not b:
        return 1.0
    return fuzz.token_sort_ratio(a, b) / 100.0


def _schema_for(gt_action: str, gt_input: str) -> ToolSpec:
    spec = find_by_name(gt_action)
    if spec is not None:
        return spec
    first = gt_input.split(",", 1)[0].strip()
    kinds = (ArgKind.IMAGE,) if _IMAGE_RE.search(first) else ()
    if "," in gt_input or not kinds:
        kinds = (*kinds, ArgKind.TEXT)
    return ToolSpec(key=gt_action, name=gt_action, description="", args=kinds, output=OutputKind.TEXT,
                    arg_names=tuple(k.value for k in kinds))


def argument_scores(spec: ToolSpec, gt_input: str, pred_input: str | None) -> list[float]:
    """Per-argument scores of a predicted ``Action Input`` (``[0.0]`` if it does not parse or a
    path/box differs)."""
    if pred_input is None:
        return [0.0]
    gt_args = parse_action_input(spec, gt_input)
    try:
        pred_args = parse_action_input(spec, pred_input)
    except ArgumentError:
        return [0.0]
    values = []
    for kind, g, p in zip(spec.args, gt_args, pred_args):
        if kind is ArgKind.TEXT:
            values.append(text_similarity(g, p))
        elif g.strip() != p.strip():
            return [0.0]
        else:
            values.append(1.0)
    return values or [1.0]


def score_strict(gt_output: str | None, prediction: str | None, item_id: str = "",
                 args_threshold: float = 0.5) -> ItemScore:
    """Score one prediction strictly; ``prediction=None`` means the item was never predicted."""
    gt_output = gt_output or ""
    gt_tool = first_action(gt_output) if is_tool_output(gt_output) else None
    if prediction is None:
        return ItemScore(item_id, 0.0, 0.0, 0.0, 0.0, 0.0, gt_tool or NO_TOOL, NO_TOOL, missing=True)
    step = parse_step(prediction)
    pred_tool = step.action or NO_TOOL
    if gt_tool is None:
        t = float(step.thought == "No")
        ok = float(t == 1.0 and step.action is None and bool(step.answer))
        return ItemScore(item_id, t, ok, ok, ok, t, NO_TOOL, pred_tool)
    gt_inputs = find_lines(gt_output).action_inputs
    gt_input = gt_inputs[0] if gt_inputs else ""
    spec = _schema_for(gt_tool, gt_input)
    try:
        parse_action_input(spec, gt_input)
    except ArgumentError as err:
        raise ValueError(f"item {item_id!r}: gt Action Input does not fit its tool: {err}") from None
    t = float(step.thought == "Yes")
    a = float(step.action == gt_tool)
    values = argument_scores(spec, gt_input, step.action_input)
    g = sum(values) / len(values)
    ok = float(t == 1.0 and a == 1.0 and min(values) >= args_threshold)
    return ItemScore(item_id, t, a, g, ok, (t + a + g) / 3.0, gt_tool, pred_tool)
