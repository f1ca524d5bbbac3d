"""Checks of a training config that run before anything loads: values that would train nothing or fail only once
the model is in memory, and checkpoints of runs with another model or other LoRA settings."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Number
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gpt4tools.training.build import TrainingConfigError

RUN_CONFIG = "resolved_config.yaml"
"""The resolved config ``train.py`` saves in its run folder, beside ``checkpoints/``."""

MODEL_IDENTITY_KEYS = ("name", "source", "hub_id", "path", "gguf", "config")
"""The ``model`` keys that say which weights a checkpoint's LoRA tensors belong to."""


def _value(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=None)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def check_train_config(cfg: DictConfig) -> None:
    """Refuse values that train nothing or fail only after the model has loaded.

    Checked: ``lora.r`` >= 1, ``lora.lora_alpha`` > 0, 0 <= ``lora.lora_dropout`` < 1, ``optimizer.lr`` > 0,
    ``trainer.max_steps`` >= 1 or -1, ``trainer.max_epochs`` >= 1 or -1 (or null), ``trainer.limit_train_batches``
    > 0, ``trainer.accumulate_grad_batches`` >= 1, ``scheduler.name`` (of the shipped schedule),
    ``batching.batch_size`` / ``batching.max_length`` >= 1, ``batching.max_train_samples`` /
    ``batching.val_max_samples`` >= 1 or null.

    Raises:
        TrainingConfigError: naming the key, its value and what it takes.
    """
    r = _value(cfg, "lora.r")
    if not _is_int(r) or r < 1:
        raise TrainingConfigError(f"lora.r={r}: the LoRA rank must be an integer >= 1 (e.g. lora.r=16)")
    alpha = _value(cfg, "lora.lora_alpha")
    if alpha is not None and (not _is_number(alpha) or alpha <= 0):
        raise TrainingConfigError(f"lora.lora_alpha={alpha}: must be > 0 (the LoRA update is scaled by alpha / r, "
                                  f"0 trains nothing); e.g. lora.lora_alpha={2 * r}")
    dropout = _value(cfg, "lora.lora_dropout")
    if dropout is not None and (not _is_number(dropout) or not 0 <= dropout < 1):
        raise TrainingConfigError(f"lora.lora_dropout={dropout}: must be in [0, 1)")
    lr = _value(cfg, "optimizer.lr")
    if not _is_number(lr) or lr <= 0:
        raise TrainingConfigError(f"optimizer.lr={lr}: the learning rate must be a number > 0 (e.g. optimizer.lr=1e-3)")
    _check_length(cfg)
    _check_schedule(cfg)
    _check_batching(cfg)


def _check_length(cfg: DictConfig) -> None:
    """The trainer's run length: one that takes no optimizer step is refused."""
    steps = _value(cfg, "trainer.max_steps")
    if steps is not None and (not _is_int(steps) or (steps != -1 and steps < 1)):
        raise TrainingConfigError(f"trainer.max_steps={steps} trains nothing: give a number of optimizer steps >= 1, "
                                  f"or -1 to train for trainer.max_epochs")
    epochs = _value(cfg, "trainer.max_epochs")
    if epochs is not None and (not _is_int(epochs) or (epochs != -1 and epochs < 1)):
        raise TrainingConfigError(f"trainer.max_epochs={epochs} trains nothing: give a number of epochs >= 1")
    limit = _value(cfg, "trainer.limit_train_batches")
    if limit is not None and (not _is_number(limit) or limit <= 0):
        raise TrainingConfigError(f"trainer.limit_train_batches={limit} trains nothing: give a fraction in (0, 1] or "
                                  f"a number of batches >= 1, or null for all of them")
    accumulate = _value(cfg, "trainer.accumulate_grad_batches")
    if accumulate is not None and (not _is_int(accumulate) or accumulate < 1):
        raise TrainingConfigError(f"trainer.accumulate_grad_batches={accumulate}: must be an integer >= 1")


def _check_schedule(cfg: DictConfig) -> None:
    """The shipped warm-up schedule's name (an unknown one would fail at the first optimizer step)."""
    from gpt4tools.training.schedules import SCHEDULES

    if not str(_value(cfg, "scheduler._target_") or "").endswith("warmup_schedule"):
        return
    name = _value(cfg, "scheduler.name")
    if name is not None and name not in SCHEDULES:
        raise TrainingConfigError(f"scheduler.name={name!r}: choose one of {', '.join(SCHEDULES)}")


def _check_batching(cfg: DictConfig) -> None:
    for key in ("batching.batch_size", "batching.max_length"):
        value = _value(cfg, key)
        if value is not None and (not _is_int(value) or value < 1):
            raise TrainingConfigError(f"{key}={value}: must be an integer >= 1")
    for key in ("batching.max_train_samples", "batching.val_max_samples"):
        value = _value(cfg, key)
        if value is not None and (not _is_int(value) or value < 1):
            raise TrainingConfigError(f"{key}={value}: give a number of samples >= 1, or null for all of them")


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def settings_difference(cfg: Mapping[str, Any], saved: Mapping[str, Any]) -> list[str]:
    """How the model and LoRA settings of ``saved`` (a run's resolved config) differ from ``cfg``'s, one
    ``key: <saved> there, <cfg> here`` entry per differing key (``model``: :data:`MODEL_IDENTITY_KEYS`;
    ``lora``: all of them)."""
    model_here, model_there = _plain(cfg.get("model")) or {}, _plain(saved.get("model")) or {}
    lora_here, lora_there = _plain(cfg.get("lora")) or {}, _plain(saved.get("lora")) or {}
    out: list[str] = []
    for prefix, here, there, keys in (("model", model_here, model_there, MODEL_IDENTITY_KEYS),
                                      ("lora", lora_here, lora_there, sorted(set(lora_here) | set(lora_there)))):
        for key in keys:
            out.extend(_differences(f"{prefix}.{key}", there.get(key), here.get(key)))
    return out


def _differences(key: str, there: Any, here: Any) -> list[str]:
    """``key: <there> there, <here> here`` for each differing leaf (nested mappings compared key by key)."""
    if isinstance(there, Mapping) and isinstance(here, Mapping):
        return [d for k in sorted(set(there) | set(here), key=str)
                for d in _differences(f"{key}.{k}", there.get(k), here.get(k))]
    return [] if there == here else [f"{key}: {there} there, {here} here"]


def run_config_of(ckpt: Path) -> Path:
    """Where the saved config of the run that wrote ``ckpt`` is (``<run>/checkpoints/x.ckpt`` -> ``<run>/``)."""
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return run_dir / RUN_CONFIG


def checkpoint_difference(cfg: DictConfig, ckpt: Path) -> list[str] | None:
    """:func:`settings_difference` between ``cfg`` and the run that wrote ``ckpt`` (empty: the same settings);
    None when that run saved no config to compare with."""
    saved = run_config_of(ckpt)
    if not saved.is_file():
        return None
    return settings_difference(cfg, OmegaConf.load(saved))
