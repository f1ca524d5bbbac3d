"""Score predictions of an eval set with the ``compat`` or ``strict`` scorer."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from gpt4tools.evaluation.compat import score_compat
from gpt4tools.evaluation.items import EvalItem
from gpt4tools.evaluation.scores import ItemScore
from gpt4tools.evaluation.strict import score_strict

log = logging.getLogger(__name__)

SCORERS: tuple[str, ...] = ("compat", "strict")


def score_items(items: Sequence[EvalItem], predictions: Mapping[str, str], scorer: str,
                args_threshold: float = 0.5) -> list[ItemScore]:
    """Per-item scores of ``predictions`` (id -> text after the prompt) on ``items``.

    ``compat`` scores only items that have a prediction (the original's mean); ``strict`` scores
    every item and counts a missing prediction as a failure. Model text is never a reason to fail:
    anything unparsable scores 0.
    """
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; choose from {', '.join(SCORERS)}")
    known = {it.id for it in items}
    extra = [k for k in predictions if k not in known]
    if extra:
        log.warning("%d predictions have ids outside the eval set (e.g. %s); they are not scored",
                    len(extra), extra[0])
    out: list[ItemScore] = []
    for it in items:
        pred = predictions.get(it.id)
        if scorer == "compat":
            if pred is None:
                continue
            s = score_compat(it.output, pred.strip(), it.id)
        else:
            s = score_strict(it.output, None if pred is None else pred.strip(), it.id, args_threshold)
        s.gt_tool = it.tool
        out.append(s)
    return out
