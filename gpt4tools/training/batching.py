"""Length-grouped, resumable batch sampling of rows (:mod:`gpt4tools.training.rows`).

No row is ever padded to a fixed maximum: a batch is padded to its own longest row (by the row
collator), and batches are formed from rows of similar length.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class _EpochForwarder:
    """Lightning calls ``set_epoch`` on ``batch_sampler.sampler``; this forwards it to the batch sampler."""

    def __init__(self, owner: LengthGroupedBatchSampler) -> None:
        self.owner = owner

    def set_epoch(self, epoch: int) -> None:
        self.owner.set_epoch(epoch)


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Seeded, resumable batches of similar-length rows, sharded over ranks.

    Each epoch: a seeded permutation is cut into mega-batches of ``batch_size * group_factor``
    rows; each mega-batch is sorted by length and cut into batches of ``batch_size`` rows (fewer
    where ``max_tokens`` caps the padded tokens); the batch order is shuffled again and every
    rank takes every ``num_replicas``-th batch. The order depends only on (seed, epoch), so after
    ``load_state_dict`` the sampler yields exactly the batches that were not consumed yet.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, shuffle: bool = True,
                 group_factor: int = 32, max_tokens: int | None = None, num_replicas: int = 1,
                 rank: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.group_factor = max(1, group_factor)
        self.max_tokens = max_tokens
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
        mega = self.batch_size * self.group_factor
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
