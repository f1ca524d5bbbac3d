"""Exact and near-duplicate removal of cleaned instructions, within a split and across splits.

* exact: the same normalized instruction text (lowercase, punctuation and extra spaces removed);
* near: the same tool and the same non-image arguments, and instruction texts whose
  ``rapidfuzz.fuzz.ratio`` reaches a threshold. Candidates are found with the sorted-neighbourhood
  method (sort by text, compare with the last few kept neighbours; once forwards, once on reversed
  text) so the cost is O(n log n), not O(n^2);
* across splits: an instruction text already used by an earlier split is dropped from the later one,
  so no instruction text is shared between train, val_seen and test_unseen.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from rapidfuzz import fuzz

from gpt4tools.data.parse import IMAGE_TOKEN, DropReport, Instruction

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalize_text(text: str) -> str:
    """Lowercase, every run of non-alphanumerics as one space, stripped."""
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def _block_key(inst: Instruction) -> tuple:
    return (inst.tool, *(normalize_text(a) for a in inst.args if a != IMAGE_TOKEN))


def _neighbourhood_pass(order: list[int], texts: list[str], alive: list[bool], threshold: float, window: int,
                        items: list[Instruction], report: DropReport) -> None:
    kept: list[int] = []
    for idx in order:
        if not alive[idx]:
            continue
        t = texts[idx]
        for j in kept[-window:]:
            if fuzz.ratio(t, texts[j], score_cutoff=threshold):
                alive[idx] = False
                report.add("near_duplicate", items[idx].raw or items[idx].instruction)
                break
        else:
            kept.append(idx)


def deduplicate(items: Iterable[Instruction], report: DropReport, near_threshold: float | None = 92.0,
                window: int = 4, taken: set[str] | None = None) -> list[Instruction]:
    """Drop exact and near duplicates (and texts in ``taken``, used by other splits); order is kept.

    Args:
        items: cleaned instructions of one split.
        report: receives one entry per dropped item (reasons ``duplicate``, ``near_duplicate``,
            ``cross_split_duplicate``).
        near_threshold: rapidfuzz ratio (0-100) at which two texts of one block are near duplicates;
            None disables near-duplicate removal.
        window: neighbours compared in each sorted pass.
        taken: normalized texts used by earlier splits; this split's kept texts are added to it.
    """
    taken = taken if taken is not None else set()
    seen: set[str] = set()
    uniq: list[Instruction] = []
    norms: list[str] = []
    for inst in items:
        norm = normalize_text(inst.instruction)
        if norm in taken:
            report.add("cross_split_duplicate", inst.raw or inst.instruction)
        elif norm in seen:
            report.add("duplicate", inst.raw or inst.instruction)
        else:
            seen.add(norm)
            uniq.append(inst)
            norms.append(norm)
    alive = [True] * len(uniq)
    if near_threshold is not None:
        blocks: dict[tuple, list[int]] = defaultdict(list)
        for i, inst in enumerate(uniq):
            blocks[_block_key(inst)].append(i)
        reversed_texts = [t[::-1] for t in norms]
        for members in blocks.values():
            if len(members) < 2:
                continue
            _neighbourhood_pass(sorted(members, key=norms.__getitem__), norms, alive, near_threshold, window,
                                uniq, report)
            _neighbourhood_pass(sorted(members, key=reversed_texts.__getitem__), reversed_texts, alive,
                                near_threshold, window, uniq, report)
    out = [inst for inst, ok in zip(uniq, alive) if ok]
    taken.update(normalize_text(inst.instruction) for inst in out)
    return out
