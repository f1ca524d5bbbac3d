"""Prompt sharing: the steps of one tool chain trained as one row over a shared trunk.

GPT4Tools context samples repeat a long prompt: the sample for step *k* of a chain is the prompt
of step 1 plus the steps before *k*. In token space all of a chain's samples start with the same
~750 tokens and differ only in their last few dozen. Prompt sharing lays such samples out as one
row, ``[trunk][branch 1][branch 2]...``: the trunk is their common prefix, each branch is the
rest of one sample, and a 4-D attention mask lets every branch see the trunk and itself only,
with position ids that continue from the trunk. Every target token then sees exactly the
context it sees in its own sample, so the loss and the gradients are those of the separate
samples, computed with the trunk run once instead of once per step. The rows go through the one
collator of :mod:`gpt4tools.training.rows`.
"""

from __future__ import annotations

from gpt4tools.prompt import IGNORE_INDEX
from gpt4tools.training.rows import Row
from gpt4tools.training.samples import TokenizedSample


def _prompt_length(sample: TokenizedSample) -> int:
    """Tokens before the first target token."""
    return next(i for i, label in enumerate(sample.labels) if label != IGNORE_INDEX)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def share_prompts(samples: list[TokenizedSample], min_shared: float = 0.5, max_members: int = 8,
                  max_row_length: int | None = None) -> list[Row]:
    """Group samples whose prompts start alike into :class:`Row` s (singletons stay rows of one).

    Samples are sorted by their token ids, so the samples of one chain sit together; a run of them
    becomes one row while the trunk (their common prefix, ending at least one token before any
    member's first target) covers at least ``min_shared`` of every member, the row has at most
    ``max_members`` samples and at most ``max_row_length`` tokens. The trunk never holds a position
    that predicts a target, so each branch's targets are predicted from its own positions.
    """
    order = sorted(range(len(samples)), key=lambda i: samples[i].input_ids)
    rows: list[Row] = []
    group: list[TokenizedSample] = []
    trunk_len = 0

    def close() -> None:
        if group:
            rows.append(Row(group[0].input_ids[:trunk_len], tuple(
                TokenizedSample(s.input_ids[trunk_len:], s.labels[trunk_len:]) for s in group)))

    for i in order:
        sample = samples[i]
        if group:
            candidate = min(trunk_len, _common_prefix(group[0].input_ids, sample.input_ids), _prompt_length(sample) - 1)
            members = [*group, sample]
            length = candidate + sum(len(s) - candidate for s in members)
            if (len(members) <= max_members and all(candidate >= min_shared * len(s) for s in members)
                    and (max_row_length is None or length <= max_row_length)):
                group.append(sample)
                trunk_len = candidate
                continue
            close()
        group = [sample]
        trunk_len = max(_prompt_length(sample) - 1, 0)
    close()
    return rows
