"""Loading GPT4Tools-format files and tokenizing them through ``datasets``, with its on-disk cache."""

from __future__ import annotations

import os
from pathlib import Path

from gpt4tools.data.io import load_samples


def load_hf_dataset(path: str | os.PathLike, require_id: bool = False, cache_dir: str | None = None):
    """A ``datasets.Dataset`` of a validated sample file (validation errors name the file and the item)."""
    from datasets import load_dataset

    load_samples(path, require_id=require_id)
    return load_dataset("json", data_files=str(Path(path)), split="train", cache_dir=cache_dir)


def _encode_batch(batch: dict, tokenizer, template: str, max_length: int | None) -> dict:
    from gpt4tools.prompt import encode_sample

    ids, labels = [], []
    for instruction, input_text, output in zip(batch["instruction"], batch["input"], batch["output"]):
        enc = encode_sample(tokenizer, template, instruction, output, input_text, max_length)
        ids.append(enc.input_ids)
        labels.append(enc.labels)
    return {"input_ids": ids, "labels": labels, "length": [len(x) for x in ids]}


def tokenize_dataset(dataset, tokenizer, template: str, max_length: int | None = None, num_proc: int | None = None):
    """Token ids and loss labels (-100 on the prompt) per sample, cached by ``datasets`` between runs.

    The cache key is the dataset's fingerprint plus a hash of this function's arguments (tokenizer,
    template, max length), so a second call with the same inputs reads the cached Arrow file.
    """
    return dataset.map(_encode_batch, batched=True, batch_size=64, num_proc=num_proc,
                       fn_kwargs={"tokenizer": tokenizer, "template": template, "max_length": max_length},
                       remove_columns=[c for c in dataset.column_names if c not in ("id",)],
                       desc="tokenizing")
