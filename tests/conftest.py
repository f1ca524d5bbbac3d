"""Test setup: offline, CPU-only, small threads; shared tiny fixtures."""

import os

for _var, _val in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
}.items():
    os.environ.setdefault(_var, _val)

import pytest  # noqa: E402

import gpt4tools  # noqa: E402,F401  (torchvision fallback before anything imports it)


@pytest.fixture(scope="session")
def tiny_model_cfg():
    """The ``model=tiny`` config node."""
    from gpt4tools.utils.config import compose

    return compose("train", ["model=tiny"]).model


@pytest.fixture(scope="session")
def smollm2_tokenizer(tiny_model_cfg):
    """The real SmolLM2 tokenizer (also the tiny model's)."""
    from gpt4tools.models import load_tokenizer

    return load_tokenizer(tiny_model_cfg)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_cfg, smollm2_tokenizer):
    """A random-init 2-layer LLaMA with the SmolLM2 vocabulary."""
    from gpt4tools.models import load_model

    return load_model(tiny_model_cfg, smollm2_tokenizer)
