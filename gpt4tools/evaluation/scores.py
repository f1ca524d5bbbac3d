"""Per-item scores and their aggregation (shared by every scorer)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

METRICS: tuple[str, ...] = ("SR_t", "SR_act", "SR_args", "SR", "IoU")
"""Metric names in report order: thought, action, arguments, success, IoU."""

NO_TOOL = "(no tool)"
"""Label used for items or predictions that call no tool (per-tool tables, confusion matrix)."""


@dataclass
class ItemScore:
    """One scored eval item.

    ``thought``/``action``/``args`` are in [0, 1] (``nan`` only where the original scorer itself
    produces it); ``success`` is 0 or 1; ``gt_tool``/``pred_tool`` are LLM-facing tool names or
    :data:`NO_TOOL`; ``missing`` marks a gt item without a prediction (strict scorer only).
    """

    id: str
    thought: float
    action: float
    args: float
    success: float
    iou: float
    gt_tool: str = NO_TOOL
    pred_tool: str = NO_TOOL
    missing: bool = False
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def aggregate(scores: Sequence[ItemScore]) -> dict[str, float]:
    """SR_t, SR_act, SR_args, SR, IoU (fractions in [0, 1]) and the item count, as plain means."""
    import numpy as np

    out = {"n": len(scores)}
    with np.errstate(all="ignore"):
        for name, attr in zip(METRICS, ("thought", "action", "args", "success", "iou")):
            out[name] = float(np.mean([getattr(s, attr) for s in scores])) if scores else float("nan")
    out["n_missing"] = sum(1 for s in scores if s.missing)
    return out


def per_group(scores: Iterable[ItemScore], group_of: dict[str, str], order: Sequence[str]) -> dict[str, dict]:
    """:func:`aggregate` for each group of items (``group_of``: item id -> group), in ``order``, empty groups left out."""
    groups: dict[str, list[ItemScore]] = defaultdict(list)
    for s in scores:
        if s.id in group_of:
            groups[group_of[s.id]].append(s)
    return {g: aggregate(groups[g]) for g in order if groups.get(g)}


NEED_GROUPS: tuple[str, ...] = ("tool_items", "no_tool_items")
"""Report keys of the items whose gt calls a tool (first thought ``Yes``) and of those that need none."""


def by_need(scores: Iterable[ItemScore], needs_tool: Mapping[str, bool]) -> dict[str, dict]:
    """:func:`aggregate` over the items that need a tool and over those that need none (``needs_tool``: item id ->
    bool); both groups are always there, an empty one with ``n`` 0 and nan metrics."""
    scores = list(scores)
    return {group: aggregate([s for s in scores if needs_tool.get(s.id) is want])
            for group, want in zip(NEED_GROUPS, (True, False))}


def per_tool(scores: Iterable[ItemScore]) -> dict[str, dict[str, float]]:
    """:func:`aggregate` for each ground-truth tool, sorted by tool name."""
    groups: dict[str, list[ItemScore]] = defaultdict(list)
    for s in scores:
        groups[s.gt_tool].append(s)
    return {tool: aggregate(groups[tool]) for tool in sorted(groups)}


def confusion(scores: Iterable[ItemScore]) -> dict[str, dict[str, int]]:
    """Counts of (ground-truth tool -> predicted tool) over items, as nested dicts."""
    counts: Counter[tuple[str, str]] = Counter((s.gt_tool, s.pred_tool) for s in scores)
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for (gt, pred), n in sorted(counts.items()):
        out[gt][pred] = n
    return dict(out)


def fmt_pct(value: float) -> str:
    """A metric fraction as a percentage with one decimal (``-`` for nan)."""
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"
