"""``train.py``'s job: data -> LoRA model -> Lightning fit -> ``adapter/`` -> (evaluation).

    python train.py                                   # the embedded default (SmolLM2-135M + LoRA, CPU)
    python train.py experiment=gpt4tools_vicuna13b trainer=deepspeed_zero2
    python train.py ckpt_path=last hydra.run.dir=outputs/train/<run>   # exact resume of an interrupted run
"""

from __future__ import annotations

import os
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from gpt4tools.training.build import TrainingConfigError
from gpt4tools.training.checks import RUN_CONFIG, check_train_config, checkpoint_difference
from gpt4tools.training.samples import DatasetError
from gpt4tools.utils.files import require_file
from gpt4tools.utils.logging import get_logger
from gpt4tools.utils.machine import cpu_description

log = get_logger(__name__)


def configure_wandb_mode() -> str:
    """Online when an API key is configured, offline otherwise (never waits on the network for a login)."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    has_key = bool(os.environ.get("WANDB_API_KEY"))
    netrc = Path.home() / ".netrc"
    if not has_key and netrc.is_file():
        has_key = "api.wandb.ai" in netrc.read_text(errors="ignore")
    mode = "online" if has_key else "offline"
    os.environ["WANDB_MODE"] = mode
    os.environ.setdefault("WANDB_INIT_TIMEOUT", "60")
    if mode == "offline":
        log.info("wandb: no API key configured, logging offline (sync later with `wandb sync`)")
    return mode


def data_files(cfg: DictConfig) -> dict[str, Path]:
    """Train/val files: those named in ``cfg.data`` (each must be a regular file), else built by the data pipeline.

    Raises:
        DatasetError: a named file that is missing, a folder or a device (naming its ``data.*_file`` key).
    """
    named = {"train": cfg.data.get("train_file"), "val_seen": cfg.data.get("val_seen_file"),
             "test_unseen": cfg.data.get("test_unseen_file")}
    for split, value in named.items():  # a typo, a folder or a device: named with its key before anything loads
        if value:
            require_file(value, f"data.{split}_file", "give a GPT4Tools JSON file, or null to generate the dataset",
                         DatasetError)
    if named["train"]:
        return {k: Path(v) for k, v in named.items() if v}
    try:
        from gpt4tools.data import ensure_dataset
    except ImportError as err:
        raise FileNotFoundError(
            f"training data {named['train']} not found and the data pipeline is unavailable ({err}); "
            "pass data.train_file=/path/train.json data.val_seen_file=/path/val.json") from None
    return {k: Path(v) for k, v in ensure_dataset(cfg).items()}


def build_datamodule(cfg: DictConfig, tokenizer, files: dict[str, Path]):
    """The datamodule ``cfg.batching`` builds (``_target_``, ``_partial_``) over ``files``."""
    from hydra.utils import instantiate

    b = cfg.batching
    several_per_row = bool(b.get("share_prompts")) or bool(b.get("packing"))
    if several_per_row and cfg.model.get("attn_implementation") not in (None, "sdpa", "eager"):
        raise TrainingConfigError(
            f"batching.share_prompts / batching.packing put several samples in a row, whose 4-D attention mask "
            f"attn_implementation={cfg.model.attn_implementation} does not take: turn both off")
    return instantiate(b)(train_file=files["train"], val_file=files.get("val_seen"), tokenizer=tokenizer,
                          chat_template=cfg.model.chat_template, seed=int(cfg.seed))


def build_loggers(cfg: DictConfig) -> list:
    """Instantiate every logger under ``cfg.logger`` and give each the resolved config."""
    from hydra.utils import instantiate

    if not cfg.get("logger"):
        return []
    if any("Wandb" in str(node.get("_target_", "")) for node in cfg.logger.values()):
        configure_wandb_mode()
    loggers = [instantiate(node) for node in cfg.logger.values() if node is not None]
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for lg in loggers:
        lg.log_hyperparams(resolved)
    return loggers


class AdapterSnapshots(pl.Callback):
    """Saves the adapter every N optimizer steps as ``<folder>/step_NNNNNN`` (peft folders, ready for
    ``evaluate.py adapter=...``): one run then gives SR against the number of training samples seen."""

    def __init__(self, every_n_steps: int, folder: Path, cfg: DictConfig, tokenizer) -> None:
        self.every, self.folder, self.cfg, self.tokenizer = int(every_n_steps), Path(folder), cfg, tokenizer
        self._last = -1

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        target = self.folder / f"step_{step:06d}"
        if step == 0 or step % self.every or step == self._last:
            return
        self._last = step  # several micro-batches end on one optimizer step under gradient accumulation
        from gpt4tools.training.export import save_adapter
        from gpt4tools.training.module import batch_samples

        with _gathered(trainer):  # every rank enters (a collective under FSDP / ZeRO-3); rank 0 writes
            if trainer.is_global_zero and not target.exists():
                # the module counts this batch in its own on_train_batch_end, which runs after the callbacks
                save_adapter(pl_module.model, self.cfg, self.tokenizer, target,
                             progress=_progress(trainer, pl_module, batch_samples(batch)))


def build_callbacks(cfg: DictConfig, tokenizer=None) -> list[pl.Callback]:
    """Checkpointing (last + every N optimizer steps) into ``<run>/checkpoints``, and adapter snapshots
    (``checkpoint.adapter_every_n_steps``) into ``<run>/adapters``."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    ck = cfg.get("checkpoint", {}) or {}
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(dirpath=str(Path(cfg.paths.output_dir) / "checkpoints"), filename="step{step:06d}",
                        every_n_train_steps=ck.get("every_n_train_steps"), save_last=True,
                        save_top_k=int(ck.get("save_top_k", 1)), auto_insert_metric_name=False)]
    if ck.get("adapter_every_n_steps"):
        callbacks.append(AdapterSnapshots(int(ck["adapter_every_n_steps"]), Path(cfg.paths.output_dir) / "adapters",
                                          cfg, tokenizer))
    return callbacks


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """``ckpt_path``: None, a file, or ``last``: this run folder's last checkpoint, else the newest one among the
    task's runs whose saved config (``resolved_config.yaml``) has this config's model and LoRA settings (the runs
    skipped for other settings are named in a warning).

    Raises:
        TrainingConfigError: a ``ckpt_path`` that is not a checkpoint file, or a checkpoint (given, in this run
            folder, or - with ``last`` - every one found) written with another model or other LoRA settings.
    """
    value = cfg.get("ckpt_path")
    if not value:
        return None
    fix = "pass ckpt_path=<a .ckpt of a run with the same model and LoRA settings>, or ckpt_path=null to start fresh"
    if value != "last":
        require_file(value, "ckpt_path", "give a .ckpt file that train.py wrote, or ckpt_path=last",
                     TrainingConfigError)
        if diff := checkpoint_difference(cfg, Path(value)):
            raise TrainingConfigError(f"ckpt_path={value} was trained with other settings ({'; '.join(diff)}): {fix}")
        return str(value)
    here = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if here.is_file():
        if diff := checkpoint_difference(cfg, here):
            raise TrainingConfigError(f"ckpt_path=last: this run folder's {here} was trained with other settings "
                                      f"({'; '.join(diff)}): {fix}")
        return str(here)
    candidates = sorted(Path(cfg.paths.output_root).glob(f"{cfg.task_name}/*/checkpoints/last.ckpt"),
                        key=lambda p: p.stat().st_mtime, reverse=True)
    if not candidates:
        log.warning("ckpt_path=last: no checkpoint found under %s; starting fresh", cfg.paths.output_root)
        return None
    skipped: list[str] = []
    for ckpt in candidates:
        diff = checkpoint_difference(cfg, ckpt)
        if diff == []:
            if skipped:
                log.warning("ckpt_path=last: skipped newer checkpoints of other runs: %s", " | ".join(skipped))
            log.info("ckpt_path=last: resuming from %s", ckpt)
            return str(ckpt)
        skipped.append(f"{ckpt} ({'; '.join(diff) if diff else 'no resolved_config.yaml beside it to compare'})")
    raise TrainingConfigError(f"ckpt_path=last: no checkpoint of task {cfg.task_name} under {cfg.paths.output_root} "
                              f"has this run's model and LoRA settings; the newest, {skipped[0]}: {fix}")


def _gathered(trainer: pl.Trainer):
    """A context in which sharded (FSDP / DeepSpeed ZeRO-3) LoRA weights are whole on rank 0."""
    strategy = type(trainer.strategy).__name__
    if strategy.startswith("FSDP"):
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        return FSDP.summon_full_params(trainer.strategy.model, writeback=False, rank0_only=True)
    if strategy.startswith("DeepSpeed") and getattr(trainer.strategy, "zero_stage_3", False):
        import deepspeed

        params = [p for p in trainer.lightning_module.parameters() if p.requires_grad]
        return deepspeed.zero.GatheredParameters(params, modifier_rank=None)
    return nullcontext()


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train LoRA adapters as ``cfg`` says; returns a summary (adapter folder, val loss, throughput)."""
    import torch
    from hydra.utils import instantiate

    from gpt4tools.models import load_tokenizer
    from gpt4tools.training.build import build_lora_model
    from gpt4tools.training.export import save_adapter
    from gpt4tools.training.module import LoRAModule

    started = time.perf_counter()
    check_train_config(cfg)  # values that train nothing or fail once the model is in memory
    if _evaluates(cfg):
        _eval_settings(cfg)  # a typo in eval: would otherwise surface only after training
    ckpt_path = resolve_ckpt_path(cfg)  # another model's checkpoint is refused before anything loads
    pl.seed_everything(int(cfg.seed), workers=True)
    # the datamodule checkpoints the data position itself (GPT4ToolsDataModule.state_dict), so mid-epoch resume is exact
    warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")
    torch.set_float32_matmul_precision("high")
    out_dir = Path(cfg.paths.output_dir)
    files = data_files(cfg)
    tokenizer = load_tokenizer(cfg.model)
    datamodule = build_datamodule(cfg, tokenizer, files)
    datamodule.setup("fit")  # bad data fails here, before any weight is loaded
    model = build_lora_model(cfg, tokenizer)
    module = LoRAModule(model, instantiate(cfg.optimizer), instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
                        target_only_logits=bool(cfg.training.target_only_logits),
                        compile_layers=bool(cfg.training.compile))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=build_callbacks(cfg, tokenizer), logger=build_loggers(cfg) or False)
    if trainer.is_global_zero:
        out_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, out_dir / RUN_CONFIG, resolve=True)
    summary: dict[str, Any] = {"output_dir": str(out_dir)}
    if cfg.training.get("validate_before") and ckpt_path is None and datamodule.val_samples:
        summary["val_loss_before"] = _val_loss(trainer.validate(module, datamodule=datamodule, verbose=False))
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    tp = module.throughput
    if tp["seconds"]:
        summary.update(samples_per_s=tp["samples"] / tp["seconds"], tokens_per_s=tp["tokens"] / tp["seconds"],
                       nonpad_tokens_per_s=tp["nonpad_tokens"] / tp["seconds"], samples_seen=tp["samples"])
        log.info("trained on %d samples: %.2f samples/s, %.0f tokens/s (%.0f non-pad)", tp["samples"],
                 summary["samples_per_s"], summary["tokens_per_s"], summary["nonpad_tokens_per_s"])
    if datamodule.val_samples and cfg.training.get("validate_after", True):
        summary["val_loss"] = _val_loss(trainer.validate(module, datamodule=datamodule, verbose=False))
        log.info("val/loss: %s -> %.4f", f"{summary['val_loss_before']:.4f}" if "val_loss_before" in summary
                 else "?", summary["val_loss"])
    with _gathered(trainer):
        if trainer.is_global_zero:
            summary["adapter_dir"] = str(save_adapter(model, cfg, tokenizer, out_dir / "adapter",
                                                      progress=_progress(trainer, module)))
    if trainer.is_global_zero and _evaluates(cfg):
        summary["eval"] = _evaluate(cfg, Path(summary["adapter_dir"]), files)
    summary["wall_seconds"] = time.perf_counter() - started
    if trainer.is_global_zero:
        minutes, seconds = divmod(round(summary["wall_seconds"]), 60)
        log.info("train.py took %d min %02d s on %s (trainer.precision=%s)", minutes, seconds, cpu_description(),
                 trainer.precision)
    return summary


def _progress(trainer: pl.Trainer, module, uncounted: int = 0) -> dict[str, int]:
    """Optimizer steps taken and training samples seen (all ranks) so far; ``uncounted``: samples of the
    current batch not yet in the module's count."""
    world = max(int(getattr(trainer, "world_size", 1) or 1), 1)
    return {"global_step": int(trainer.global_step),
            "samples_seen": (int(module.throughput["samples"]) + uncounted) * world}


def _val_loss(results: list[dict[str, float]]) -> float:
    return float(results[0]["val/loss"]) if results and "val/loss" in results[0] else float("nan")


def _eval_sets_from(cfg: DictConfig) -> str:
    """``eval.sets_from`` (``run`` or ``default``), checked."""
    sets_from = (cfg.get("eval") or {}).get("sets_from", "run")
    if sets_from not in ("run", "default"):
        raise TrainingConfigError(f"eval.sets_from={sets_from!r}: choose run or default")
    return sets_from


def _evaluates(cfg: DictConfig) -> bool:
    """Whether the run ends with the closing evaluation (``eval.enabled``)."""
    return bool(cfg.get("eval") and cfg.eval.get("enabled", False))


def _eval_settings(cfg: DictConfig):
    """The closing evaluation's settings (``eval:`` less ``enabled`` and ``sets_from``), and ``eval.sets_from``,
    checked."""
    from gpt4tools.evaluation import EvalSettings

    _eval_sets_from(cfg)
    return EvalSettings.from_config({k: v for k, v in cfg.eval.items() if k not in ("enabled", "sets_from")},
                                    strict=True)


def _evaluate(cfg: DictConfig, adapter_dir: Path, files: dict[str, Path]) -> dict:
    """Closing evaluation: :func:`gpt4tools.evaluation.evaluate` of the saved adapter (it names its base model) with
    the ``eval:`` settings (``conf/evaluation/default.yaml`` keys), into ``<run>/eval``; returns the tuned report.

    ``eval.sets_from``: ``run`` scores this run's own val_seen / test_unseen; ``default`` scores the default
    dataset's, so that runs which change the data (the ablations) are all scored on the same items.
    """
    from gpt4tools.evaluation import LocalModel, evaluate
    from gpt4tools.evaluation.sets import EVAL_SPLITS, default_eval_files

    settings = _eval_settings(cfg)
    sets = ({k: files[k] for k in EVAL_SPLITS if k in files} if _eval_sets_from(cfg) == "run"
            else default_eval_files(cfg.paths))
    return evaluate(LocalModel(adapter=adapter_dir), sets, Path(cfg.paths.output_dir) / "eval", settings)
