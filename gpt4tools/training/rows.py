"""The one batch layout of training and validation: rows of samples, and the collator that pads them.

A :class:`Row` holds one or more samples laid out as ``[trunk][branch 1][branch 2]...``: the trunk is a
prefix the samples share (empty unless prompts are shared), each branch the rest of one sample. Every
batching choice is a way of forming rows:

* plain batches: one sample per row, no trunk (:func:`single_rows`);
* prompt sharing: a chain's steps over their common prompt (:func:`gpt4tools.training.sharing.share_prompts`);
* packing: several whole samples per row, no trunk (:func:`pack_rows`).

:class:`RowCollator` turns any list of rows into one batch contract:

``input_ids`` (B, T), ``position_ids`` (B, T)
    tokens and their positions (a branch continues from its trunk; a packed sample starts at 0);
``shift_labels`` (B, T)
    the token each position predicts, ``IGNORE_INDEX`` where it predicts no target;
``attention_mask``
    what the backbone takes: a 2-D padding mask (B, T) when every row is one sample, else a boolean
    4-D mask (B, 1, T, T) in which every branch sees the trunk and itself, causally;
``num_samples``, ``num_tokens``
    samples and non-padding tokens in the batch (for throughput and logging).

Every target token then sees exactly the context it has in its own sample, so the loss and the
gradients are those of the separate samples whatever the layout.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import torch

from gpt4tools.prompt import IGNORE_INDEX
from gpt4tools.training.samples import TokenizedSample


@dataclass(frozen=True)
class Row:
    """Samples laid out over a shared trunk: the trunk once, then each sample's remaining tokens."""

    trunk: list[int]
    branches: tuple[TokenizedSample, ...]

    def __len__(self) -> int:
        return len(self.trunk) + sum(len(b) for b in self.branches)

    @property
    def num_samples(self) -> int:
        return len(self.branches)

    def samples(self) -> list[TokenizedSample]:
        """The member samples as they were before they were laid out."""
        prompt = [IGNORE_INDEX] * len(self.trunk)
        return [TokenizedSample(self.trunk + b.input_ids, prompt + b.labels) for b in self.branches]


def single_rows(samples: list[TokenizedSample]) -> list[Row]:
    """One row per sample (plain padded batches)."""
    return [Row([], (s,)) for s in samples]


def pack_rows(samples: list[TokenizedSample], row_tokens: int) -> list[Row]:
    """Whole samples packed into rows of at most ``row_tokens`` tokens (best fit, longest first).

    Deterministic: the same samples give the same rows. A sample longer than ``row_tokens`` gets a row of
    its own.
    """
    order = sorted(range(len(samples)), key=lambda i: (-len(samples[i]), i))
    members: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (tokens still free, row index), sorted
    for i in order:
        n = len(samples[i])
        slot = bisect.bisect_left(free, (n, -1))
        if slot < len(free):
            room, r = free.pop(slot)
            members[r].append(i)
            bisect.insort(free, (room - n, r))
        else:
            members.append([i])
            bisect.insort(free, (max(row_tokens - n, 0), len(members) - 1))
    return [Row([], tuple(samples[i] for i in m)) for m in members]


def row_layout(row: Row) -> tuple[list[int], list[int], list[int], list[tuple[int, int]]]:
    """(input ids, position ids, next-token labels, branch spans) of one row laid out flat."""
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


class RowCollator:
    """Pads :class:`Row` s into the batch contract of this module (right padding).

    Padding positions attend to themselves only in a 4-D mask, so no softmax row is empty.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, rows: list[Row]) -> dict[str, torch.Tensor]:
        width = max(len(r) for r in rows)
        if self.pad_to_multiple_of:
            width = math.ceil(width / self.pad_to_multiple_of) * self.pad_to_multiple_of
        n = len(rows)
        ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        positions = torch.zeros((n, width), dtype=torch.long)
        shift_labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
        one_sample_rows = all(r.num_samples == 1 for r in rows)
        if one_sample_rows:
            mask = torch.zeros((n, width), dtype=torch.long)
        else:
            mask = torch.eye(width, dtype=torch.bool).repeat(n, 1, 1, 1)
            causal = torch.ones((width, width), dtype=torch.bool).tril()
        for r, row in enumerate(rows):
            row_ids, row_pos, row_next, spans = row_layout(row)
            length, trunk = len(row_ids), len(row.trunk)
            ids[r, :length] = torch.tensor(row_ids)
            positions[r, :length] = torch.tensor(row_pos)
            shift_labels[r, :length] = torch.tensor(row_next)
            if one_sample_rows:
                mask[r, :length] = 1
                continue
            mask[r, 0, :trunk, :trunk] = causal[:trunk, :trunk]
            for start, end in spans:
                mask[r, 0, start:end, :trunk] = True
                mask[r, 0, start:end, start:end] = causal[: end - start, : end - start]
        return {"input_ids": ids, "position_ids": positions, "attention_mask": mask, "shift_labels": shift_labels,
                "num_samples": torch.tensor(sum(r.num_samples for r in rows)),
                "num_tokens": torch.tensor(sum(len(r) for r in rows))}


def masks_for_layers(config, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor | dict:
    """The batch's mask as the backbone's layers need it.

    A 4-D mask reaches every layer as it is, so for backbones with sliding-window layers (Gemma 2/3, Qwen2 with
    ``use_sliding_window`` ...) the window is applied here, from the true positions: one mask per layer type, the
    form such models take in place of a tensor. A key is kept in a sliding layer when its position is less than
    ``sliding_window`` before the query's, exactly as in the separate sample. A 2-D padding mask is returned as
    it is (the backbone builds its own causal and sliding masks from it).

    Raises:
        ValueError: the backbone slides a window but names no layer types, so it would not take per-type masks.
    """
    if attention_mask.dim() != 4:
        return attention_mask
    layer_types = set(getattr(config, "layer_types", None) or [])
    window = getattr(config, "sliding_window", None)
    if "sliding_attention" in layer_types and window:
        distance = position_ids[:, :, None] - position_ids[:, None, :]
        sliding = attention_mask & (distance < int(window))[:, None]
        return {"full_attention": attention_mask, "sliding_attention": sliding}
    if window and not layer_types:
        raise ValueError(f"{type(config).__name__} slides a {window}-token window in every layer and takes one 4-D "
                         "mask as it is, so rows of several samples would see past the window: set "
                         "batching.share_prompts=false and batching.packing=false")
    return attention_mask
