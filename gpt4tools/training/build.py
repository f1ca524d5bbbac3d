"""Build the trainable model: backbone (optionally k-bit quantized) + peft LoRA, with checks before training."""

from __future__ import annotations

import os
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from gpt4tools.models import load_model
from gpt4tools.utils.errors import ConfigError
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)

QUANT_MODES = ("none", "int8", "nf4")


class TrainingConfigError(ConfigError):
    """A training setup that cannot work; raised before any training step."""


def quantization_config(quant: str, compute_dtype: torch.dtype = torch.bfloat16):
    """The bitsandbytes config for ``quant`` (none -> None)."""
    if quant not in QUANT_MODES:
        raise TrainingConfigError(f"quant={quant!r}: choose one of {', '.join(QUANT_MODES)}")
    if quant == "none":
        return None
    from transformers import BitsAndBytesConfig

    if quant == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)


def model_max_positions(model: torch.nn.Module) -> int | None:
    """The longest sequence the backbone supports (``max_position_embeddings`` or equivalent)."""
    config = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_max_length(max_length: int, model: torch.nn.Module, model_name: str) -> None:
    """Fail when the training length exceeds what the backbone supports."""
    limit = model_max_positions(model)
    if limit is not None and max_length > limit:
        raise TrainingConfigError(
            f"max_length={max_length} is beyond model {model_name}'s limit of {limit} positions "
            f"(max_position_embeddings); lower model.max_length / batching.max_length to <= {limit}")


def check_target_modules(model: torch.nn.Module, target_modules: Any, model_name: str) -> None:
    """Fail with the module names the backbone has when a LoRA target matches none of its layers."""
    if target_modules is None or isinstance(target_modules, str):
        return  # peft presets ("all-linear") or a regex: peft validates those itself
    leaf_names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in target_modules if t not in leaf_names]
    if missing:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
        raise TrainingConfigError(
            f"lora.target_modules {missing} not found in model {model_name}; its linear layers are: {', '.join(linear)}")


def _device_map_for_quant(quant: str) -> dict | None:
    if quant == "none":
        return None
    if torch.cuda.is_available():
        return {"": int(os.environ.get("LOCAL_RANK", 0))}
    return {"": "cpu"}


def build_lora_model(cfg: DictConfig, tokenizer) -> torch.nn.Module:
    """Backbone + LoRA from ``cfg.model``, ``cfg.lora``, ``cfg.quant`` and ``cfg.training``.

    The backbone is frozen; only LoRA weights train. With ``quant`` int8/nf4 the backbone is loaded
    through bitsandbytes and prepared for k-bit training (QLoRA).
    """
    from hydra.utils import instantiate
    from peft import get_peft_model, prepare_model_for_kbit_training

    quant = str(cfg.get("quant", "none"))
    training = cfg.get("training", {}) or {}
    grad_ckpt = bool(training.get("gradient_checkpointing", False))
    compute_dtype = torch.float16 if "16-mixed" == str(cfg.trainer.get("precision")) else torch.bfloat16
    qconfig = quantization_config(quant, compute_dtype)
    model = load_model(cfg.model, tokenizer, quantization_config=qconfig, device_map=_device_map_for_quant(quant))
    check_max_length(int(cfg.batching.max_length), model, cfg.model.name)
    lora_cfg = instantiate(cfg.lora)
    check_target_modules(model, OmegaConf.to_container(cfg.lora, resolve=True).get("target_modules"), cfg.model.name)
    if quant != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=grad_ckpt,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False
    model = get_peft_model(model, lora_cfg)
    trainable, total = model.get_nb_trainable_parameters()
    log.info("LoRA on %s: %d trainable of %d parameters (%.3f%%), quant=%s", cfg.model.name, trainable, total,
             100 * trainable / total, quant)
    return model
