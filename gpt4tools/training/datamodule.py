"""The LightningDataModule over GPT4Tools JSON files: tokenized once, length-grouped, exactly resumable."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from gpt4tools.training.batching import LengthGroupedBatchSampler
from gpt4tools.training.build import TrainingConfigError
from gpt4tools.training.rows import Row, RowCollator, pack_rows, single_rows
from gpt4tools.training.samples import TokenizedSample, read_samples, tokenize_samples
from gpt4tools.training.sharing import share_prompts
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


class _ListDataset(Dataset):
    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Row:
        return self.rows[i]


class GPT4ToolsDataModule(pl.LightningDataModule):
    """Training and validation batches from GPT4Tools files, as rows (:mod:`gpt4tools.training.rows`).

    Args:
        train_file, val_file: JSON lists of ``{instruction, input, output}`` (eval files may add ``id``, ``tool``).
        tokenizer: the backbone's tokenizer (pad token set).
        chat_template: name of the template in :mod:`gpt4tools.prompt`.
        max_length: longest sample in tokens (prompts cut from the left beyond it).
        batch_size / eval_batch_size: rows per micro-batch; ``max_tokens`` optionally caps padded tokens.
        share_prompts: train samples that start with the same prompt (the steps of one chain) as one
            row over their shared prefix (:mod:`gpt4tools.training.sharing`; same loss, fewer tokens).
        packing: pack whole training samples into rows of ``max_length`` tokens.
        group_factor: length grouping window, in batches.
        max_train_samples / val_max_samples: use only the first N items (None = all).
        seed: shuffling seed (the order is a function of seed and epoch only).
        num_workers: dataloader workers.
    """

    def __init__(self, train_file: str | Path, val_file: str | Path | None, tokenizer, chat_template: str,
                 max_length: int, batch_size: int = 4, eval_batch_size: int = 8, max_tokens: int | None = None,
                 share_prompts: bool = False, packing: bool = False, group_factor: int = 32,
                 max_train_samples: int | None = None, val_max_samples: int | None = None, seed: int = 0,
                 num_workers: int = 0) -> None:
        super().__init__()
        if packing and share_prompts:
            raise TrainingConfigError("batching.packing and batching.share_prompts exclude each other: choose one")
        self.train_file, self.val_file = Path(train_file), (Path(val_file) if val_file else None)
        self.tokenizer, self.chat_template, self.max_length = tokenizer, chat_template, int(max_length)
        self.batch_size, self.eval_batch_size, self.max_tokens = int(batch_size), int(eval_batch_size), max_tokens
        self.share_prompts, self.packing = share_prompts, packing
        self.group_factor, self.seed, self.num_workers = int(group_factor), int(seed), int(num_workers)
        self.max_train_samples, self.val_max_samples = max_train_samples, val_max_samples
        self.train_samples: list[TokenizedSample] | None = None
        self.train_rows: list[Row] | None = None
        self.val_samples: list[TokenizedSample] | None = None
        self._sampler: LengthGroupedBatchSampler | None = None
        self._resume: dict[str, int] | None = None

    def _load(self, path: Path, limit: int | None) -> list[TokenizedSample]:
        items = read_samples(path)
        if limit is not None:
            items = items[:limit]
        return tokenize_samples(items, self.tokenizer, self.chat_template, self.max_length, source=str(path))

    def _rows(self, samples: list[TokenizedSample]) -> list[Row]:
        if self.share_prompts:
            return share_prompts(samples, max_row_length=2 * self.max_length)
        if self.packing:
            return pack_rows(samples, self.max_length)
        return single_rows(samples)

    def setup(self, stage: str | None = None) -> None:
        """Read and tokenize the files and lay the training samples out in rows (once)."""
        if self.train_samples is None:
            self.train_samples = self._load(self.train_file, self.max_train_samples)
            n_tok = sum(len(s) for s in self.train_samples)
            n_tgt = sum(s.num_targets for s in self.train_samples)
            log.info("train: %d samples from %s, %d tokens (%.0f per sample), %d target tokens (%.1f%%)",
                     len(self.train_samples), self.train_file, n_tok, n_tok / len(self.train_samples), n_tgt,
                     100 * n_tgt / max(n_tok, 1))
            self.train_rows = self._rows(self.train_samples)
            if len(self.train_rows) != len(self.train_samples):
                row_tokens = sum(len(r) for r in self.train_rows)
                log.info("%s: %d samples in %d rows, %d tokens (%.2fx fewer)",
                         "prompt sharing" if self.share_prompts else "packing", len(self.train_samples),
                         len(self.train_rows), row_tokens, n_tok / max(row_tokens, 1))
        if self.val_samples is None and self.val_file is not None:
            self.val_samples = self._load(self.val_file, self.val_max_samples)

    def _rank_info(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return trainer.world_size, trainer.global_rank

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        world, rank = self._rank_info()
        rows = self.train_rows
        self._sampler = LengthGroupedBatchSampler(
            [len(r) for r in rows], self.batch_size, seed=self.seed, shuffle=True, group_factor=self.group_factor,
            max_tokens=self.max_tokens, num_replicas=world, rank=rank)
        if self._resume is not None:
            self._sampler.resume_from(self._resume["epoch"], self._resume["batches_done"])
            log.info("resuming data order at epoch %d after %d batches", self._resume["epoch"],
                     self._resume["batches_done"])
        return DataLoader(_ListDataset(rows), batch_sampler=self._sampler,
                          collate_fn=RowCollator(self.tokenizer.pad_token_id),
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader | list:
        self.setup("validate")
        if not self.val_samples:
            return []
        sampler = LengthGroupedBatchSampler([len(s) for s in self.val_samples], self.eval_batch_size, shuffle=False,
                                            group_factor=10**6, max_tokens=self.max_tokens)
        world, rank = self._rank_info()
        sampler.num_replicas, sampler.rank = world, rank
        return DataLoader(_ListDataset(single_rows(self.val_samples)), batch_sampler=sampler,
                          collate_fn=RowCollator(self.tokenizer.pad_token_id), num_workers=0)

    def state_dict(self) -> dict[str, Any]:
        """Where the training data order stands: epoch and batches consumed in it (saved in checkpoints)."""
        trainer = self.trainer
        if trainer is None:
            return {}
        progress = trainer.fit_loop.epoch_loop.batch_progress.current
        return {"epoch": trainer.current_epoch, "batches_done": progress.processed, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume the data order; the next train dataloader skips the consumed batches."""
        if not state:
            return
        if state.get("seed", self.seed) != self.seed:
            logging.getLogger(__name__).warning("resuming with seed %s, checkpoint used %s: data order differs",
                                                self.seed, state["seed"])
        self._resume = {"epoch": int(state["epoch"]), "batches_done": int(state["batches_done"])}
