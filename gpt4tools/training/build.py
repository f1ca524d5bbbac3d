"""Build the trainable model: backbone (optionally k-bit quantized) + peft LoRA, with checks before training."""

from __future__ import annotations

import os
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from gpt4tools.models import load_model
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)

QUANT_MODES = ("none", "int8", "nf4")


class TrainingConfigError(ValueError):
    """A training setup that cannot work; raised before any training step."""


def _on_cuda(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def resolve_precision(precision: Any, accelerator: str = "auto") -> Any:
    """``trainer.precision``, with ``auto`` made concrete for this machine.

    ``auto``: on CUDA ``bf16-mixed`` where supported, else ``16-mixed``; on a CPU ``bf16-mixed`` only where it
    multiplies bf16 natively (AMX or AVX512-BF16), else ``32-true`` - elsewhere bf16 matrix products are
    emulated (~150x slower than fp32 ones; a train step ~14x, ``experiments/bench/precision.py``). Any other
    value is returned unchanged.
    """
    if str(precision) != "auto":
        return precision
    from gpt4tools.inference import cpu_has_fast_bf16

    if _on_cuda(accelerator):
        chosen, why = ("bf16-mixed", "CUDA with bf16") if torch.cuda.is_bf16_supported() else ("16-mixed", "CUDA without bf16")
    elif cpu_has_fast_bf16():
        chosen, why = "bf16-mixed", "a CPU with native bf16 (AMX or AVX512-BF16)"
    else:
        chosen, why = "32-true", "a CPU without native bf16 (AMX or AVX512-BF16), where bf16 is emulated"
    log.info("trainer.precision=auto: %s on %s", chosen, why)
    return chosen


def resolve_frozen_prompt(frozen_prompt: Any, precision: Any, accelerator: str = "auto", packing: bool = False) -> bool:
    """``training.frozen_prompt``, with ``auto`` made concrete for this machine.

    ``auto``: on only for a CPU that trains in full fp32 (``precision``, already resolved, is ``32-true``/``32``) and
    batches that are not packed. There the full train step is ~2.3x slower than in native bf16, a time-capped run
    gets ~2.3x fewer optimizer steps, and the frozen prompt's ~2x steps per minute are worth more than the part of
    the gradient it drops (``experiments/RESULTS.md``, "The demo on a CPU without native bf16"); with native bf16
    they were not, and on a GPU the prompt's backward is cheap. ``true`` / ``false`` stay as given.
    """
    if isinstance(frozen_prompt, bool):
        return frozen_prompt
    if frozen_prompt != "auto":
        raise TrainingConfigError(f"training.frozen_prompt={frozen_prompt!r}: choose true, false or auto")
    frozen = not _on_cuda(accelerator) and not packing and str(precision) in ("32-true", "32")
    log.info("training.frozen_prompt=auto: %s", "on (a CPU training in fp32)" if frozen
             else "off (full backward through the prompt)")
    return frozen


def resolve_max_time(max_time: Any, choices: Any, precision: Any) -> Any:
    """``trainer.max_time``, with ``auto`` made concrete for this machine; any other value stays as given.

    ``auto`` takes ``choices["fp32"]`` (``training.max_time_auto.fp32``) where training runs in full fp32
    (``precision``, already resolved, is ``32-true``/``32``), else ``choices["default"]``. A time-capped run that must
    also evaluate inside a fixed budget (``make demo``'s 15 minutes) needs the shorter cap in fp32, where the
    evaluation, in fp32 too, takes about twice as long."""
    if str(max_time) != "auto":
        return max_time
    key = "fp32" if str(precision) in ("32-true", "32") else "default"
    chosen = (choices or {}).get(key)
    if chosen is None:
        raise TrainingConfigError(f"trainer.max_time=auto needs training.max_time_auto.{key} (the time cap where "
                                  f"training runs {'in fp32' if key == 'fp32' else 'in any other precision'}), "
                                  "or give trainer.max_time itself")
    log.info("trainer.max_time=auto: %s (training.max_time_auto.%s: training in %s)", chosen, key, precision)
    return chosen


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
