"""Whether a LoRA adapter's tensors fit a base model, told without loading either's weights.

The adapter's shapes come from its ``adapter_model.safetensors`` header; the base's layers from its architecture
(``config.json``, or ``model.config`` for the tiny test model) built on the meta device, which allocates nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_PEFT_PREFIX = "base_model.model."
_LORA_PARTS = (".lora_A.weight", ".lora_B.weight")


def adapter_shapes(adapter: str | Path) -> dict[str, tuple[int, ...]] | None:
    """Shapes of the LoRA tensors in ``adapter``'s safetensors file, read from its header only (None without one)."""
    path = Path(adapter) / "adapter_model.safetensors"
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys() if key.endswith(_LORA_PARTS)}


def _architecture(model_cfg: Mapping[str, Any]) -> Any | None:
    """The base's transformers config, without touching its weights (None when it is not at hand)."""
    source = str(model_cfg.get("source", "hub"))
    if source == "tiny":
        from transformers import LlamaConfig

        return LlamaConfig(**dict(model_cfg.get("config") or {}))
    from transformers import AutoConfig

    if source == "packaged_gguf":  # converted on first load; before that there is no config.json to read
        from gpt4tools.models import packaged

        folder = packaged.default_cache_dir() / "models" / packaged.get_package(
            str(model_cfg.get("gguf", packaged.DEFAULT))).folder
    else:
        from gpt4tools.models.loading import resolve_model_dir

        folder = Path(str(resolve_model_dir(model_cfg)))
    if not (folder / "config.json").is_file():
        return None
    return AutoConfig.from_pretrained(str(folder), trust_remote_code=bool(model_cfg.get("trust_remote_code", False)))


@lru_cache(maxsize=4)
def _linear_shapes(config_json: str, trust_remote_code: bool) -> dict[str, tuple[int, int] | None]:
    """Every module of the architecture that the config (JSON, with its ``model_type``) describes, built on the meta
    device: ``(in_features, out_features)`` for linear layers (``nn.Linear``, GPT-2's ``Conv1D``), None for others."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.pytorch_utils import Conv1D

    config = AutoConfig.for_model(**json.loads(config_json))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    shapes: dict[str, tuple[int, int] | None] = {}
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear):
            shapes[name] = (m.in_features, m.out_features)
        elif isinstance(m, Conv1D):
            shapes[name] = (int(m.weight.shape[0]), int(m.weight.shape[1]))
        else:
            shapes[name] = None
    return shapes


def adapter_misfits(model_cfg: Mapping[str, Any], adapter: str | Path, examples: int = 2) -> tuple[list[str], int, int]:
    """The adapter's LoRA tensors that do not fit ``model_cfg``'s layers: up to ``examples`` descriptions, how many
    do not fit, and how many were checked; ``([], 0, 0)`` when either side is not at hand without loading weights."""
    shapes = adapter_shapes(adapter)
    if not shapes:
        return [], 0, 0
    trust = bool(model_cfg.get("trust_remote_code", False))
    try:
        config = _architecture(model_cfg)
        layers = _linear_shapes(config.to_json_string(use_diff=False), trust) if config is not None else {}
    except Exception as err:  # noqa: BLE001 - an architecture not buildable here is checked when the adapter attaches
        log.debug("adapter fit not checked before loading (%s: %s)", type(err).__name__, err)
        return [], 0, 0
    if not layers:
        return [], 0, 0
    misfits: list[str] = []
    for key, shape in sorted(shapes.items()):
        name = key.removeprefix(_PEFT_PREFIX)
        module = name.rsplit(".lora_", 1)[0]
        if module.endswith("lm_head") and model_cfg.get("source") == "tiny":
            continue  # the tiny model's vocabulary is the tokenizer's, unknown until it loads
        if module not in layers:
            misfits.append(f"{module} is not a layer of this model")
            continue
        if layers[module] is None:
            continue  # a layer kind whose LoRA shapes are not checked here (peft checks them when it attaches)
        in_features, out_features = layers[module]
        expected = (shape[0], in_features) if key.endswith(".lora_A.weight") else (out_features, shape[-1])
        if tuple(shape) != expected:
            misfits.append(f"{name} has shape {list(shape)} where this model takes {list(expected)}")
    return misfits[:examples], len(misfits), len(shapes)
