"""Merge a LoRA adapter into its base model and save a plain Hugging Face folder.

    python -m gpt4tools.training.merge adapter_dir=outputs/train/<run>/adapter            # -> <run>/merged
    python -m gpt4tools.training.merge adapter_dir=/released/gpt4tools-vicuna-13b-lora model=vicuna13b

The base model comes from the adapter's saved training config; released adapters (which carry none)
name it with ``model=...``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

import gpt4tools  # noqa: F401  (library work-arounds first)
from gpt4tools.utils.config import CONFIG_DIR
from gpt4tools.utils.errors import cli_errors
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


def merge_adapter(adapter_dir: str | Path, output_dir: str | Path | None = None, model_cfg: DictConfig | None = None,
                  dtype: str | None = None) -> Path:
    """Fold the adapter's LoRA weights into its base; write model + tokenizer to ``output_dir``.

    Returns:
        The merged folder (default: ``merged/`` next to the adapter folder).
    """
    from gpt4tools.inference import inference_dtype
    from gpt4tools.models import load_model, load_tokenizer
    from gpt4tools.models.choice import attach_adapter, base_model_for

    adapter_dir = Path(adapter_dir)
    model_cfg = base_model_for(adapter_dir, model_cfg)  # a base the adapter was not trained on is refused here
    tokenizer = load_tokenizer(model_cfg)
    base = load_model(model_cfg, tokenizer)
    merged = attach_adapter(base, adapter_dir, model_cfg).merge_and_unload()
    if dtype:
        merged = merged.to(inference_dtype(str(dtype), merged.device))
    out = Path(output_dir) if output_dir else adapter_dir.parent / "merged"
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    log.info("merged %s into %s -> %s", adapter_dir, model_cfg.get("name", "base"), out)
    return out


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="merge")
@cli_errors
def main(cfg: DictConfig) -> None:
    """Merge ``cfg.adapter_dir`` into its base model (``conf/merge.yaml``)."""
    logging.basicConfig(level=logging.INFO)
    merge_adapter(cfg.adapter_dir, cfg.get("merged_dir"), cfg.get("model"), cfg.get("dtype"))


if __name__ == "__main__":
    main()
