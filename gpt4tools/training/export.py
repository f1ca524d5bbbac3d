"""The self-describing ``adapter/`` folder and loading of peft adapters (ours or released GPT4Tools ones).

An adapter folder written by :func:`save_adapter` holds, beside peft's ``adapter_config.json`` and weights:
``train_config.yaml`` (the resolved training config; its ``model`` node names the base model, so evaluation and
the agent need no ``model=``), ``chat_template.json``, ``prompt_format.json`` (the GPT4Tools prompt and step
formats it was trained on), ``tool_catalog.json`` and the tokenizer.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from gpt4tools.catalog import CATALOG
from gpt4tools.prompt import IMAGE_UPLOAD_TEMPLATE, PROMPT_TEMPLATE, get_chat_template
from gpt4tools.react import OBSERVATION_PREFIX, STEP_END, THOUGHT_PREFIX
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)

CONFIG_FILE = "train_config.yaml"
TEMPLATE_FILE = "chat_template.json"
CATALOG_FILE = "tool_catalog.json"
PROMPT_FILE = "prompt_format.json"


def catalog_snapshot() -> list[dict[str, Any]]:
    """Every catalog tool as plain JSON (what the adapter was trained to see)."""
    return [json.loads(json.dumps(dataclasses.asdict(spec), default=str)) for spec in CATALOG.values()]


def prompt_format() -> dict[str, Any]:
    """The GPT4Tools prompt and ReAct step formats the adapter was trained on."""
    return {"prompt_template": PROMPT_TEMPLATE, "image_upload_template": IMAGE_UPLOAD_TEMPLATE,
            "thought_prefix": THOUGHT_PREFIX, "observation_prefix": OBSERVATION_PREFIX, "step_end": STEP_END}


PROGRESS_FILE = "training_progress.json"


def save_adapter(model, cfg: DictConfig, tokenizer, folder: str | Path,
                 progress: dict[str, Any] | None = None) -> Path:
    """Write ``folder`` = peft adapter (adapter_config.json, adapter_model.safetensors) + resolved config (with the
    base model's node), chat template, prompt format, tool-catalog snapshot and tokenizer; ``progress`` (optimizer
    steps, samples seen) goes to ``training_progress.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if progress is not None:
        (folder / PROGRESS_FILE).write_text(json.dumps(progress, indent=2))
    model.save_pretrained(str(folder), safe_serialization=True)
    OmegaConf.save(cfg, folder / CONFIG_FILE, resolve=True)
    template = get_chat_template(cfg.model.chat_template)
    (folder / TEMPLATE_FILE).write_text(json.dumps(dataclasses.asdict(template), indent=2))
    (folder / PROMPT_FILE).write_text(json.dumps(prompt_format(), indent=2))
    (folder / CATALOG_FILE).write_text(json.dumps(catalog_snapshot(), indent=2))
    tokenizer.save_pretrained(str(folder))
    log.info("adapter saved to %s", folder)
    return folder


def adapter_progress(folder: str | Path) -> dict[str, Any] | None:
    """What an adapter of ours had trained on when saved (``global_step``, ``samples_seen``), if recorded."""
    path = Path(folder) / PROGRESS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def adapter_train_config(folder: str | Path) -> DictConfig | None:
    """The resolved training config saved with an adapter of ours (None for released adapters)."""
    path = Path(folder) / CONFIG_FILE
    return OmegaConf.load(path) if path.is_file() else None


def adapter_base_model(folder: str | Path) -> DictConfig | None:
    """The ``model`` node of the base an adapter of ours was trained on (None when the folder does not say)."""
    saved = adapter_train_config(folder)
    return saved.model if saved is not None and saved.get("model") is not None else None


def adapter_base_path(folder: str | Path) -> str | None:
    """peft's record of the base (``base_model_name_or_path`` in ``adapter_config.json``), when it has one."""
    path = Path(folder) / "adapter_config.json"
    return (json.loads(path.read_text()).get("base_model_name_or_path") or None) if path.is_file() else None


def _clean_lora_config(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    from peft import LoraConfig

    known = set(inspect.signature(LoraConfig).parameters)
    return {k: v for k, v in raw.items() if k in known}, sorted(set(raw) - known)


def load_adapter(base_model: torch.nn.Module, folder: str | Path, is_trainable: bool = False):
    """Attach a peft LoRA adapter folder to ``base_model``.

    Accepts folders written by any peft version, including the released GPT4Tools adapters
    (``adapter_model.bin`` and config keys of early peft such as ``enable_lora``/``merge_weights``,
    which are dropped with a log line).
    """
    from peft import LoraConfig, PeftModel, set_peft_model_state_dict

    folder = Path(folder)
    cfg_path = folder / "adapter_config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{folder} is not a peft adapter folder (no adapter_config.json)")
    raw = json.loads(cfg_path.read_text())
    clean, dropped = _clean_lora_config(raw)
    if not dropped:
        return PeftModel.from_pretrained(base_model, str(folder), is_trainable=is_trainable)
    log.info("%s: ignoring adapter_config keys of an older peft: %s", cfg_path, ", ".join(dropped))
    config = LoraConfig(**{k: v for k, v in clean.items() if k not in ("peft_type",)})
    config.inference_mode = not is_trainable
    model = PeftModel(base_model, config)
    weights = folder / "adapter_model.safetensors"
    if weights.is_file():
        from safetensors.torch import load_file

        state = load_file(str(weights))
    elif (folder / "adapter_model.bin").is_file():
        state = torch.load(folder / "adapter_model.bin", map_location="cpu", weights_only=True)
    else:
        raise FileNotFoundError(f"{folder}: no adapter_model.safetensors or adapter_model.bin")
    result = set_peft_model_state_dict(model, state)
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing:
        raise KeyError(f"{folder}: adapter weights missing for {len(missing)} LoRA tensors, e.g. {missing[:2]}")
    return model
