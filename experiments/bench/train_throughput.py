"""Training throughput: our Lightning train step vs the original recipe, same model, data and samples.

    python experiments/bench/train_throughput.py                       # SmolLM2-135M, 24 samples, CPU
    python experiments/bench/train_throughput.py samples=48 data_file=/path/train.json model=tiny

(a) ours: LoRAModule in a Lightning Trainer, length-grouped dynamic batches (batch 4), bf16 autocast
    (where the CPU has native bf16; fp32 elsewhere, as ``${cpu_precision:}``),
    LM head + cross-entropy only at target positions.
(b) baseline, the original v1.5 recipe: HF Trainer + peft LoRA, every sample padded to
    model_max_length (2048), per-device batch 1 with gradient accumulation to the same batch,
    the same precision, the model's full-vocabulary loss.
Both train the same LoRA config on the same first N samples, each in its own child process (so peak
memory is its own), one after the other in this run. Prints samples/s, non-pad tokens/s, peak RSS and the ratio.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import sys
import time
from functools import partial
from pathlib import Path

from omegaconf import OmegaConf

import gpt4tools  # noqa: F401  (library work-arounds before torch-based imports, also in the child processes)

DEFAULTS = {"samples": 24, "batch_size": 4, "baseline_max_length": 2048, "data_file": None, "model": "smollm2_135m",
            "threads": 2, "lr": 1e-3}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup(opts):
    import torch

    from gpt4tools.models import load_tokenizer
    from gpt4tools.training.samples import read_samples
    from gpt4tools.utils.config import compose

    torch.set_num_threads(int(opts["threads"]))
    cfg = compose("train", [f"model={opts['model']}", "eval.enabled=false", "~logger",
                            f"batching.batch_size={opts['batch_size']}", f"optimizer.lr={opts['lr']}"],
                  output_dir=str(Path(opts["out"]) / "run"))
    items = read_samples(opts["data_file"])[: int(opts["samples"])]
    return cfg, load_tokenizer(cfg.model), items


def run_ours(opts, queue) -> None:
    """Our path: the real datamodule + LightningModule + Trainer."""
    import json

    import pytorch_lightning as pl
    import torch

    from gpt4tools.training.build import build_lora_model
    from gpt4tools.training.datamodule import GPT4ToolsDataModule
    from gpt4tools.training.module import LoRAModule
    from gpt4tools.training.schedules import warmup_schedule
    from gpt4tools.utils.machine import cpu_precision

    cfg, tok, items = _setup(opts)
    data_file = Path(opts["out"]) / "bench_train.json"
    data_file.write_text(json.dumps(items))
    dm = GPT4ToolsDataModule(data_file, None, tok, cfg.model.chat_template, 2048, batch_size=int(opts["batch_size"]))
    dm.setup("fit")
    module = LoRAModule(build_lora_model(cfg, tok), partial(torch.optim.AdamW, lr=float(opts["lr"])),
                        partial(warmup_schedule, name="cosine"))
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision=cpu_precision(), max_epochs=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, use_distributed_sampler=False, gradient_clip_val=1.0)
    start = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    seconds = time.perf_counter() - start
    nonpad = sum(len(s) for s in dm.train_samples)
    queue.put({"name": "ours", "seconds": seconds, "samples": len(items), "nonpad_tokens": nonpad,
               "processed_tokens": module.throughput["tokens"], "peak_rss_mb": _peak_rss_mb(),
               "final_loss": float(trainer.callback_metrics.get("train/loss", float("nan")))})


def run_baseline(opts, queue) -> None:
    """The original recipe: HF Trainer + peft, every sample padded to model_max_length."""
    import torch
    from transformers import Trainer, TrainingArguments

    from gpt4tools.training.build import build_lora_model
    from gpt4tools.training.samples import tokenize_samples
    from gpt4tools.utils.machine import cpu_has_fast_bf16

    cfg, tok, items = _setup(opts)
    width = int(opts["baseline_max_length"])
    samples = tokenize_samples(items, tok, cfg.model.chat_template, width)

    class Padded(torch.utils.data.Dataset):
        def __len__(self):
            return len(samples)

        def __getitem__(self, i):
            s = samples[i]
            pad = width - len(s)
            return {"input_ids": torch.tensor(s.input_ids + [tok.pad_token_id] * pad),
                    "labels": torch.tensor(s.labels + [-100] * pad),
                    "attention_mask": torch.tensor([1] * len(s) + [0] * pad)}

    model = build_lora_model(cfg, tok)
    args = TrainingArguments(output_dir=str(Path(opts["out"]) / "hf"), per_device_train_batch_size=1,
                             gradient_accumulation_steps=int(opts["batch_size"]), num_train_epochs=1,
                             learning_rate=float(opts["lr"]), lr_scheduler_type="cosine", weight_decay=0.0,
                             bf16=cpu_has_fast_bf16(), use_cpu=True, logging_steps=1, save_strategy="no", report_to=[],
                             dataloader_num_workers=0, disable_tqdm=True, max_grad_norm=1.0)
    trainer = Trainer(model=model, args=args, train_dataset=Padded())
    start = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - start
    queue.put({"name": "baseline", "seconds": seconds, "samples": len(items),
               "nonpad_tokens": sum(len(s) for s in samples), "processed_tokens": width * len(samples),
               "peak_rss_mb": _peak_rss_mb(), "final_loss": float(out.training_loss)})


def _child(target, opts):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(opts, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except Exception:  # noqa: BLE001 - queue.Empty: check the child is still alive
            if not proc.is_alive():
                raise RuntimeError(f"{target.__name__} failed (exit code {proc.exitcode}); see its traceback above") from None
    proc.join()
    return result


def main() -> None:
    import logging
    import tempfile

    logging.basicConfig(level=logging.WARNING)
    opts = OmegaConf.to_container(OmegaConf.merge(DEFAULTS, OmegaConf.from_cli(sys.argv[1:])))
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if not opts["data_file"]:
        from gpt4tools.utils.config import compose

        try:
            from gpt4tools.data import ensure_dataset
        except ImportError:
            sys.exit("no data: pass data_file=/path/train.json (GPT4Tools format) or install the data pipeline")
        opts["data_file"] = str(ensure_dataset(compose("train"))["train"])
    with tempfile.TemporaryDirectory() as out:
        opts["out"] = out
        results = [_child(run_ours, opts), _child(run_baseline, opts)]
    print(f"train throughput, model={opts['model']}, {opts['samples']} samples from {opts['data_file']}, "
          f"batch {opts['batch_size']}, {opts['threads']} threads")
    print(f"{'':10}{'seconds':>9}{'samples/s':>11}{'non-pad tok/s':>15}{'processed tok':>15}{'peak RSS MB':>13}{'loss':>8}")
    for r in results:
        print(f"{r['name']:10}{r['seconds']:9.1f}{r['samples'] / r['seconds']:11.3f}"
              f"{r['nonpad_tokens'] / r['seconds']:15.0f}{r['processed_tokens']:15d}{r['peak_rss_mb']:13.0f}"
              f"{r['final_loss']:8.3f}")
    ours, base = results
    print(f"speed-up (samples/s, ours / baseline): {base['seconds'] / ours['seconds']:.2f}x")


if __name__ == "__main__":
    main()
