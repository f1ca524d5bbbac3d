"""Length-grouped, resumable batch sampling and dynamic-padding / packing collation.

No sample is ever padded to a fixed maximum: a batch is padded to its own longest sample, and
batches are formed from samples of similar length. With packing, several samples share one row
(position ids restart per sample, so attention stays within each sample).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from gpt4tools.prompt import IGNORE_INDEX
from gpt4tools.training.samples import TokenizedSample


class _EpochForwarder:
    """Lightning calls ``set_epoch`` on ``batch_sampler.sampler``; this forwards it to the batch sampler."""

    def __init__(self, owner: LengthGroupedBatchSampler) -> None:
        self.owner = owner

    def set_epoch(self, epoch: int) -> None:
        self.owner.set_epoch(epoch)


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Seeded, resumable batches of similar-length samples, sharded over ranks.

    Each epoch: a seeded permutation is cut into mega-batches of ``batch_size * group_factor``
    samples; each mega-batch is sorted by length and cut into batches (or, with ``pack_tokens``,
    greedily filled up to that many tokens per row); the batch order is shuffled again and every
    rank takes every ``num_replicas``-th batch. The order depends only on (seed, epoch), so after
    ``load_state_dict`` the sampler yields exactly the batches that were not consumed yet.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, shuffle: bool = True,
                 group_factor: int = 32, max_tokens: int | None = None, pack_tokens: int | None = None,
                 num_replicas: int = 1, rank: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.group_factor = max(1, group_factor)
        self.max_tokens = max_tokens
        self.pack_tokens = pack_tokens
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self._skip = 0  # batches of the current epoch already consumed (set on resume)
        self._skip_epoch = -1
        self.sampler = _EpochForwarder(self)

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    def _cut(self, group: list[int]) -> list[list[int]]:
        group = sorted(group, key=lambda i: self.lengths[i], reverse=True)
        batches: list[list[int]] = []
        if self.pack_tokens:
            rows: list[tuple[int, list[int]]] = []  # first-fit decreasing into rows of pack_tokens
            for i in group:
                n = self.lengths[i]
                for r, (used, members) in enumerate(rows):
                    if used + n <= self.pack_tokens:
                        rows[r] = (used + n, [*members, i])
                        break
                else:
                    rows.append((n, [i]))
            return [members for _, members in rows]
        current: list[int] = []
        for i in group:
            longest = self.lengths[current[0]] if current else self.lengths[i]
            too_many_tokens = self.max_tokens is not None and longest * (len(current) + 1) > self.max_tokens
            if current and (len(current) == self.batch_size or too_many_tokens):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """Every batch of ``epoch`` for this rank, in order."""
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        n = len(self.lengths)
        order = torch.randperm(n, generator=g).tolist() if self.shuffle else list(range(n))
        mega = self.batch_size * self.group_factor if not self.pack_tokens else max(64, self.group_factor * 4)
        batches = [b for s in range(0, n, mega) for b in self._cut(order[s:s + mega])]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        per_rank = len(batches) // self.num_replicas if self.num_replicas > 1 else len(batches)
        return batches[self.rank::self.num_replicas][:per_rank]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.epoch_batches(self.epoch)
        skip = self._skip if self._skip_epoch == self.epoch else 0
        self._skip, self._skip_epoch = 0, -1
        return iter(batches[skip:])

    def __len__(self) -> int:
        return len(self.epoch_batches(self.epoch))

    def resume_from(self, epoch: int, batches_done: int) -> None:
        """Skip the first ``batches_done`` batches of ``epoch`` on the next iteration."""
        self.epoch, self._skip, self._skip_epoch = epoch, batches_done, epoch


class Collator:
    """Pads a list of samples to the batch's own longest (right padding), or packs them into one row.

    Samples with loss weights also give ``label_weights``, aligned with ``labels``.
    """

    def __init__(self, pad_token_id: int, pack: bool = False, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.pack = pack
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, samples: list[TokenizedSample]) -> dict[str, torch.Tensor]:
        weighted = samples[0].weights is not None
        if self.pack:
            ids = [t for s in samples for t in s.input_ids]
            labels = []
            for s in samples:  # the first token of each sample predicts nothing from the previous sample
                labels.extend([IGNORE_INDEX, *s.labels[1:]])
            pos = [p for s in samples for p in range(len(s))]
            batch = {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
                     "position_ids": torch.tensor([pos]), "num_samples": torch.tensor(len(samples)),
                     "num_tokens": torch.tensor(len(ids))}
            if weighted:
                batch["label_weights"] = torch.tensor([[w for s in samples for w in s.weights]])
            return batch
        width = max(len(s) for s in samples)
        if self.pad_to_multiple_of:
            width = math.ceil(width / self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids = torch.full((len(samples), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(samples), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(samples), width), dtype=torch.long)
        weights = torch.zeros((len(samples), width)) if weighted else None
        for r, s in enumerate(samples):
            n = len(s)
            ids[r, :n] = torch.tensor(s.input_ids)
            labels[r, :n] = torch.tensor(s.labels)
            mask[r, :n] = 1
            if weights is not None:
                weights[r, :n] = torch.tensor(s.weights)
        batch = {"input_ids": ids, "labels": labels, "attention_mask": mask, "num_samples": torch.tensor(len(samples)),
                 "num_tokens": mask.sum()}
        if weights is not None:
            batch["label_weights"] = weights
        return batch
