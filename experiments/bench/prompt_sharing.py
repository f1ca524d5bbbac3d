"""Prompt sharing in the train step: the steps of a chain as one row vs as separate samples, one run.

    python experiments/bench/prompt_sharing.py                    # SmolLM2-135M, 48 samples, CPU
    python experiments/bench/prompt_sharing.py --model tiny --samples 16   # seconds, a smoke test

Both sides train the same samples with the same LoRA model and the same step (``LoRAModule`` loss, bf16
autocast where the CPU has native bf16, else fp32, as ``${cpu_precision:}`` picks; AdamW): ours in length-grouped
batches of 4 rows of ``share_prompts`` (rows capped at twice ``--max-length``, as the datamodule does),
the baseline in the length-grouped batches of 4 samples that training used before. The samples are whole
rows drawn at random from the generated training set, so chains and single samples come in the mix
training sees. The two sides alternate in halves so that load from other processes hits both alike.
Before timing, one fp32 batch checks that the two layouts give the same loss and gradients. Prints
samples/s, tokens run through the model, and the ratio.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from functools import partial

import torch

import gpt4tools  # noqa: F401  (library work-arounds before torch-based imports)
from gpt4tools.training.batching import LengthGroupedBatchSampler
from gpt4tools.training.rows import RowCollator, single_rows
from gpt4tools.training.sharing import share_prompts


def _check_same_gradients(module, separate: dict, shared: dict) -> tuple[float, float]:
    """(|loss difference|, largest relative gradient difference) of the two layouts of the same samples, fp32."""
    params = [p for p in module.model.parameters() if p.requires_grad]
    results = []
    for batch in (separate, shared):
        module.model.zero_grad()
        loss, _ = module.loss_and_count(batch)
        loss.backward()
        results.append((loss.item(), [p.grad.clone() for p in params]))
    module.model.zero_grad()
    worst = max(float((a - b).norm() / b.norm().clamp_min(1e-12)) for a, b in zip(results[1][1], results[0][1]))
    return abs(results[0][0] - results[1][0]), worst


def pick_rows(args: argparse.Namespace, overrides: Sequence[str] = ()):
    """(config, tokenizer, shared rows drawn at random from the training set holding >= ``args.samples`` samples);
    ``overrides`` are Hydra overrides of the train config (the rows do not depend on them)."""
    from gpt4tools.models import load_tokenizer
    from gpt4tools.training.samples import read_samples, tokenize_samples
    from gpt4tools.utils.config import compose

    cfg = compose("train", [f"model={args.model}", "lora.lora_dropout=0.0", *overrides])
    if args.data_file is None:
        from gpt4tools.data import ensure_dataset

        args.data_file = str(ensure_dataset(cfg)["train"])
    tok = load_tokenizer(cfg.model)
    samples = tokenize_samples(read_samples(args.data_file), tok, cfg.model.chat_template, args.max_length)
    rows = share_prompts(samples, max_row_length=2 * args.max_length)  # as the datamodule builds them
    random.Random(0).shuffle(rows)
    picked, n = [], 0
    while n < args.samples:
        picked.append(rows[len(picked)])
        n += picked[-1].num_samples
    return cfg, tok, picked


def row_args(description: str, default_samples: int = 48, default_batch_size: int = 4,
             add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The command line shared by the train-step benchmarks (``add_arguments`` adds a benchmark's own); also sets
    the offline variables and threads."""
    parser = argparse.ArgumentParser(description=description)
    if add_arguments is not None:
        add_arguments(parser)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--samples", type=int, default=default_samples, help="samples trained by each side (whole rows)")
    parser.add_argument("--batch-size", type=int, default=default_batch_size)
    parser.add_argument("--data-file", default=None, help="GPT4Tools train JSON (default: the generated default set)")
    parser.add_argument("--max-length", type=int, default=1024, help="batching.max_length (the default recipe: 1024)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    torch.set_num_threads(args.threads)
    return args


def lora_step_setup(args: argparse.Namespace, overrides: Sequence[str] = (), **module_kwargs):
    """(picked rows, their length-grouped prompt-shared batches, a ``LoRAModule`` in train mode, its trainable
    parameters) for the train-step benchmarks; ``overrides`` go to the train config (e.g. ``lora.*``). The LoRA B
    matrices start random, as after some training (at B = 0 only they would get gradients)."""
    from gpt4tools.training.build import build_lora_model
    from gpt4tools.training.module import LoRAModule

    cfg, tok, picked = pick_rows(args, overrides)
    pad = tok.pad_token_id
    sampler = LengthGroupedBatchSampler([len(r) for r in picked], args.batch_size, seed=0)
    batches = [RowCollator(pad)([picked[i] for i in b]) for b in sampler]
    module = LoRAModule(build_lora_model(cfg, tok), partial(torch.optim.AdamW, lr=1e-4), **module_kwargs)
    module.model.train()
    params = [p for p in module.model.parameters() if p.requires_grad]
    for p in params:
        if p.abs().sum() == 0:
            torch.nn.init.normal_(p, std=0.02)
    return picked, batches, module, params


def train_steps(module, optimizer, batches, bf16: bool | None = None) -> float:
    """Seconds to train ``batches`` with ``module``'s loss, under bf16 autocast when ``bf16`` (None: where the CPU
    has native bf16, else fp32 - the precision ``${cpu_precision:}`` picks)."""
    from gpt4tools.utils.machine import cpu_has_fast_bf16

    bf16 = cpu_has_fast_bf16() if bf16 is None else bf16
    start = time.perf_counter()
    for batch in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _ = module.loss_and_count(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - start


def alternate_halves(batches_of: dict[str, list], run) -> dict[str, float]:
    """Seconds of ``run(batches, name)`` for the two sides of ``batches_of`` (name -> its batches), in halves of
    alternating order (the first name leads the first half), so that load from other processes hits both alike."""
    first, second = batches_of
    seconds = {first: 0.0, second: 0.0}
    for half, order in ((0, (first, second)), (1, (second, first))):
        for name in order:
            batches = batches_of[name]
            cut = len(batches) // 2
            seconds[name] += run(batches[:cut] if half == 0 else batches[cut:], name)
    return seconds


def print_speed(title: str, args: argparse.Namespace, samples: int, rows: int, check: str,
                seconds: dict[str, float], baseline: str, ours: str, tokens: dict[str, int] | None = None) -> None:
    """The benchmarks' report: what ran, the correctness check, seconds and samples/s per side, and the ratio."""
    print(f"{title}, model={args.model}, {samples} samples ({rows} rows) from {args.data_file}, "
          f"batch {args.batch_size}, {args.threads} threads")
    print(check)
    print(f"{'':10}{'seconds':>9}{'samples/s':>11}" + (f"{'tokens':>9}" if tokens else ""))
    for name in (baseline, ours):
        print(f"{name:10}{seconds[name]:9.1f}{samples / seconds[name]:11.3f}" + (f"{tokens[name]:9d}" if tokens else ""))
    print(f"speed-up (samples/s, {ours} / {baseline}): {seconds[baseline] / seconds[ours]:.2f}x")


def main() -> None:
    args = row_args(__doc__.splitlines()[0])

    from gpt4tools.training.build import build_lora_model
    from gpt4tools.training.module import LoRAModule

    cfg, tok, picked = pick_rows(args)
    flat = [s for r in picked for s in r.samples()]

    pad = tok.pad_token_id
    row_sampler = LengthGroupedBatchSampler([len(r) for r in picked], args.batch_size, seed=0)
    shared_batches = [RowCollator(pad)([picked[i] for i in b]) for b in row_sampler]
    sampler = LengthGroupedBatchSampler([len(s) for s in flat], args.batch_size, seed=0)
    separate_batches = [RowCollator(pad)(single_rows([flat[i] for i in b])) for b in sampler]

    module = LoRAModule(build_lora_model(cfg, tok), partial(torch.optim.AdamW, lr=1e-4))
    module.model.train()
    first = [r for r in picked if r.num_samples > 1][: args.batch_size]  # rows that do share a trunk
    first_flat = [s for r in first for s in r.samples()]
    loss_diff, grad_diff = _check_same_gradients(module, RowCollator(pad)(single_rows(first_flat)), RowCollator(pad)(first))

    optimizer = torch.optim.AdamW([p for p in module.model.parameters() if p.requires_grad], lr=1e-4)
    train_steps(module, optimizer, shared_batches[:1])  # warm-up
    seconds = alternate_halves({"separate": separate_batches, "shared": shared_batches},
                               lambda batches, name: train_steps(module, optimizer, batches))
    tokens = {"shared": sum(int(b["num_tokens"]) for b in shared_batches),
              "separate": sum(int(b["num_tokens"]) for b in separate_batches)}
    print_speed("prompt sharing", args, len(flat), len(picked),
                f"same samples in both layouts (fp32): |loss difference| {loss_diff:.2e}, "
                f"largest relative gradient difference {grad_diff:.2e}", seconds, "separate", "shared", tokens)

if __name__ == "__main__":
    main()
