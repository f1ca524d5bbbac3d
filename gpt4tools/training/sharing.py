"""Prompt sharing: the steps of one tool chain trained as one row over a shared trunk.

GPT4Tools context samples repeat a long prompt: the sample for step *k* of a chain is the prompt
of step 1 plus the steps before *k*. In token space all of a chain's samples start with the same
~750 tokens and differ only in their last few dozen. Prompt sharing lays such samples out as one
row, ``[trunk][branch 1][branch 2]...``: the trunk is their common prefix, each branch is the
rest of one sample, and a 4-D attention mask lets every branch see the trunk and itself only,
with position ids that continue from the trunk. Every target token then sees exactly the
context it sees in its own sample, so the loss and the gradients are those of the separate
samples, computed with the trunk run once instead of once per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gpt4tools.prompt import IGNORE_INDEX
from gpt4tools.training.samples import TokenizedSample


@dataclass(frozen=True)
class SharedRow:
    """Samples that share a prompt prefix: the trunk once, then each sample's remaining tokens."""

    trunk: list[int]
    branches: tuple[TokenizedSample, ...]

    def __len__(self) -> int:
        return len(self.trunk) + sum(len(b) for b in self.branches)

    @property
    def num_samples(self) -> int:
        return len(self.branches)

    def samples(self) -> list[TokenizedSample]:
        """The member samples as they were before sharing."""
        prompt = [IGNORE_INDEX] * len(self.trunk)
        zeros = [0.0] * len(self.trunk)
        return [TokenizedSample(self.trunk + b.input_ids, prompt + b.labels,
                                None if b.weights is None else zeros + b.weights) for b in self.branches]


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
                  max_row_length: int | None = None) -> list[SharedRow]:
    """Group samples whose prompts start alike into :class:`SharedRow` s (singletons stay rows of one).

    Samples are sorted by their token ids, so the samples of one chain sit together; a run of them
    becomes one row while the trunk (their common prefix, ending at least one token before any
    member's first target) covers at least ``min_shared`` of every member, the row has at most
    ``max_members`` samples and at most ``max_row_length`` tokens. The trunk never holds a position
    that predicts a target, so each branch's targets are predicted from its own positions.
    """
    order = sorted(range(len(samples)), key=lambda i: samples[i].input_ids)
    rows: list[SharedRow] = []
    group: list[TokenizedSample] = []
    trunk_len = 0

    def close() -> None:
        if group:
            rows.append(SharedRow(group[0].input_ids[:trunk_len], tuple(
                TokenizedSample(s.input_ids[trunk_len:], s.labels[trunk_len:],
                                None if s.weights is None else s.weights[trunk_len:]) for s in group)))

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


def row_layout(row: SharedRow) -> tuple[list[int], list[int], list[int], list[tuple[int, int]]]:
    """(input ids, position ids, next-token labels, branch spans) of one row laid out flat.

    The branches' loss weights, when they have them, take the layout of the labels: :func:`row_weights`.
    """
    trunk = len(row.trunk)
    ids, positions = list(row.trunk), list(range(trunk))
    next_labels = [IGNORE_INDEX] * trunk  # trunk positions predict prompt tokens only
    spans: list[tuple[int, int]] = []
    for branch in row.branches:
        start = len(ids)
        ids.extend(branch.input_ids)
        positions.extend(range(trunk, trunk + len(branch)))
        next_labels.extend([*branch.labels[1:], IGNORE_INDEX])
        spans.append((start, len(ids)))
    return ids, positions, next_labels, spans


def row_weights(row: SharedRow) -> list[float]:
    """The loss weight of each position's next-token label in :func:`row_layout` (1 where a branch has none)."""
    weights = [0.0] * len(row.trunk)
    for branch in row.branches:
        own = branch.weights if branch.weights is not None else [1.0] * len(branch)
        weights.extend([*own[1:], 0.0])
    return weights


class SharedRowCollator:
    """Pads :class:`SharedRow` s into a batch with a boolean 4-D attention mask (True = may attend).

    Gives ``input_ids``, ``position_ids``, ``attention_mask`` (batch, 1, length, length),
    ``shift_labels`` (the label each position predicts), ``num_samples`` and ``num_tokens``; rows whose
    samples have loss weights also give ``shift_weights`` (the weight of each position's label).
    Padding positions attend to themselves only, so no softmax row is empty.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, rows: list[SharedRow]) -> dict[str, torch.Tensor]:
        width = max(len(r) for r in rows)
        if self.pad_to_multiple_of:
            width = math.ceil(width / self.pad_to_multiple_of) * self.pad_to_multiple_of
        n = len(rows)
        ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        positions = torch.zeros((n, width), dtype=torch.long)
        shift_labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.eye(width, dtype=torch.bool).repeat(n, 1, 1, 1)
        causal = torch.ones((width, width), dtype=torch.bool).tril()
        weighted = any(b.weights is not None for row in rows for b in row.branches)
        shift_weights = torch.zeros((n, width)) if weighted else None
        for r, row in enumerate(rows):
            row_ids, row_pos, row_next, spans = row_layout(row)
            length, trunk = len(row_ids), len(row.trunk)
            ids[r, :length] = torch.tensor(row_ids)
            positions[r, :length] = torch.tensor(row_pos)
            shift_labels[r, :length] = torch.tensor(row_next)
            if shift_weights is not None:
                shift_weights[r, :length] = torch.tensor(row_weights(row))
            mask[r, 0, :trunk, :trunk] = causal[:trunk, :trunk]
            for start, end in spans:
                mask[r, 0, start:end, :trunk] = True
                mask[r, 0, start:end, start:end] = causal[: end - start, : end - start]
        batch = {"input_ids": ids, "position_ids": positions, "attention_mask": mask, "shift_labels": shift_labels,
                 "num_samples": torch.tensor(sum(r.num_samples for r in rows)),
                 "num_tokens": torch.tensor(sum(len(r) for r in rows))}
        if shift_weights is not None:
            batch["shift_weights"] = shift_weights
        return batch


def masks_for_layers(config, attention_mask: torch.Tensor, position_ids: torch.Tensor | None,
                     key_position_ids: torch.Tensor | None = None) -> torch.Tensor | dict[str, torch.Tensor]:
    """The row mask as the backbone's layers need it.

    A 4-D mask reaches every layer as it is, so for backbones with sliding-window layers (Gemma 2/3, Qwen2 with
    ``use_sliding_window`` ...) the window is applied here, from the true positions: one mask per layer type, the
    form such models take in place of a tensor. A key is kept in a sliding layer when its position is less than
    ``sliding_window`` before the query's, exactly as for the separate sample. ``key_position_ids`` gives the
    keys' positions when they are not the queries' (queries running over a cache: the cache's, then theirs).

    Raises:
        ValueError: the backbone slides a window but names no layer types, so it would not take per-type masks.
    """
    if attention_mask.dim() != 4:
        return attention_mask
    layer_types = set(getattr(config, "layer_types", None) or [])
    window = getattr(config, "sliding_window", None)
    if "sliding_attention" in layer_types and window:
        if position_ids is None:
            raise ValueError("a sliding-window backbone needs position_ids with a 4-D row mask")
        keys = position_ids if key_position_ids is None else key_position_ids
        distance = position_ids[:, :, None] - keys[:, None, :]
        sliding = attention_mask & (distance < int(window))[:, None]
        return {"full_attention": attention_mask, "sliding_attention": sliding}
    if window and not layer_types:
        raise ValueError(f"{type(config).__name__} slides a {window}-token window in every layer and takes one 4-D "
                         "mask as it is, so prompt-shared rows would see past the window: set "
                         "batching.share_prompts=false")
    return attention_mask
