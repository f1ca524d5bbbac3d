"""The ``compat`` scorer: the original GPT4Tools ``eval/evaluate_result.py`` rules, number for number.

Rules reproduced (and each covered by a hand-computed test):

* every ``Thought: Do I need to use a tool? (.*)``, ``Action: (.*)`` and ``Action Input: (.*)``
  match is collected (values stripped; :func:`gpt4tools.react.find_lines`, the shared parser, keeps the
  original's patterns) and compared position by position over
  ``max(len(pred), len(gt))`` positions; positions only one side has score 0;
* an item is a tool item iff its gt output contains both ``Action:`` and ``Action Input:``;
  gt thoughts are cut to the number of gt actions;
* arguments: both sides are split on every ``,`` (a known flaw for texts holding commas); a
  different count scores the step 0; per argument, gt holding ``.png`` and prediction not -> the
  step scores 0; both holding ``.png`` -> 1 (paths need not match); otherwise BLEU-1
  (:func:`gpt4tools.evaluation.bleu.bleu1`, pycocoevalcap's arithmetic); step = mean;
* one trailing extra ``No`` thought (a hallucinated final answer after the tool step) is forgiven;
* tool items succeed iff thought == 1, action == 1 and args >= 0.5;
* no-tool items: the first predicted thought must be exactly ``No`` and an ``AI: `` line must exist,
  else thought (and with it action, args, success) is 0; IoU uses the positional thought vector only;
* IoU over the concatenated [thought, action, args] vectors against indicator vectors;
* means over the predictions that have a gt item (a missing prediction is not a failure).

Computations use numpy as the original does, so its corner cases (e.g. ``nan`` means of empty
vectors) come out the same.
"""

from __future__ import annotations

import numpy as np

from gpt4tools.evaluation.bleu import bleu1
from gpt4tools.evaluation.scores import NO_TOOL, ItemScore
from gpt4tools.react import find_lines, is_tool_output
from gpt4tools.utils.errors import Gpt4ToolsError


class GroundTruthError(Gpt4ToolsError, ValueError):
    """A gt output the scorer cannot use (e.g. unpaired Action / Action Input lines)."""


def positional(gt: list[str], pred: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Exact-match flags over max(len) positions and the gt indicator vector."""
    n_min, n_max = min(len(gt), len(pred)), max(len(gt), len(pred))
    flag, flag_gt = np.zeros(n_max), np.zeros(n_max)
    flag[:n_min] = [float(p == g) for p, g in zip(pred[:n_min], gt[:n_min])]
    flag_gt[: len(gt)] = 1.0
    return flag, flag_gt


def argument_step_score(gt_args: str, pred_args: str) -> float:
    """Score of one ``Action Input`` pair by the original's comma-split rules."""
    gt_parts, pred_parts = gt_args.split(","), pred_args.split(",")
    if len(gt_parts) != len(pred_parts):
        return 0.0
    values = []
    for g, p in zip(gt_parts, pred_parts):
        if ".png" in g:
            if ".png" not in p:
                return 0.0
            values.append(1.0)
        else:
            values.append(bleu1(g, p))
    return float(np.mean(values))


def arguments(gt: list[str], pred: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-position argument scores over max(len) positions and the gt indicator vector."""
    n_min, n_max = min(len(gt), len(pred)), max(len(gt), len(pred))
    flag, flag_gt = np.zeros(n_max), np.zeros(n_max)
    for i in range(n_min):
        flag[i] = argument_step_score(gt[i], pred[i])
    flag_gt[: len(gt)] = 1.0
    return flag, flag_gt


def _iou(res: np.ndarray, tgt: np.ndarray) -> float:
    return float(np.sum(res * tgt) / max(np.sum(np.maximum(res, tgt)), 1.0))


def score_compat(gt_output: str, prediction: str, item_id: str = "") -> ItemScore:
    """Score one prediction (the model's text after the prompt, already stripped) against a gt output."""
    pred, gt = find_lines(prediction), find_lines(gt_output)
    pred_tool = pred.actions[0] if pred.actions else NO_TOOL
    pred_thought, gt_thought = pred.thoughts, gt.thoughts
    with np.errstate(all="ignore"):
        if is_tool_output(gt_output):
            if len(gt.actions) != len(gt.action_inputs):
                raise GroundTruthError(f"item {item_id!r}: gt output has {len(gt.actions)} Action lines but "
                                       f"{len(gt.action_inputs)} Action Input lines")
            gt_thought = gt_thought[: len(gt.actions)]
            act, act_gt = positional(gt.actions, pred.actions)
            args, args_gt = arguments(gt.action_inputs, pred.action_inputs)
            if len(pred_thought) == len(pred.actions) + 1 and pred_thought[-1] == "No":
                pred_thought = pred_thought[:-1]
            th, th_gt = positional(gt_thought, pred_thought)
            thought, action, arg = float(np.mean(th)), float(np.mean(act)), float(np.mean(args))
            iou = _iou(np.concatenate([th, act, args]), np.concatenate([th_gt, act_gt, args_gt]))
            ok = not (thought < 1.0 or action < 1.0 or arg < 0.5)
            gt_tool = gt.actions[0] if gt.actions else NO_TOOL
            return ItemScore(item_id, thought, action, arg, float(ok), iou, gt_tool, pred_tool)
        th, th_gt = positional(gt_thought, pred_thought)
        thought = float(np.mean(th))
        if not pred_thought or pred_thought[0].strip() != "No" or not pred.answers:
            thought = 0.0
        ok = not thought < 1.0
        rest = 1.0 if ok else 0.0
        return ItemScore(item_id, thought, rest, rest, rest, _iou(th, th_gt), NO_TOOL, pred_tool)
