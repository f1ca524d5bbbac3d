"""Strategies and precisions that need CUDA: run with `make test-gpu` (pytest -m gpu) on a GPU machine."""

import pytest
import torch
from safetensors.torch import load_file
from training_helpers import train_cfg

from gpt4tools.training.run import run

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _saved_tiny(tmp_path, tiny_model_cfg, tokenizer):
    from gpt4tools.models import load_model

    folder = tmp_path / "tiny_hf"
    load_model(tiny_model_cfg, tokenizer).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return [f"model.path={folder}", "model.source=hub"]


@pytest.mark.parametrize("trainer", ["gpu", "deepspeed_zero2", "fsdp"])
def test_strategy_trains_and_exports(trainer, tmp_path, tiny_model_cfg, smollm2_tokenizer):
    if trainer.startswith("deepspeed"):
        pytest.importorskip("deepspeed")
    cfg = train_cfg(tmp_path, f"trainer={trainer}", "trainer.devices=1", "trainer.precision=bf16-mixed",
                    "trainer.max_steps=4", "~logger", "optimizer.lr=1e-2", "training.validate_before=true",
                    *_saved_tiny(tmp_path, tiny_model_cfg, smollm2_tokenizer))
    summary = run(cfg)
    assert summary["val_loss"] < summary["val_loss_before"]
    weights = load_file(tmp_path / "run" / "adapter" / "adapter_model.safetensors")
    assert weights and any(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)


def test_nf4_qlora_on_gpu(tmp_path, tiny_model_cfg, smollm2_tokenizer):
    cfg = train_cfg(tmp_path, "trainer=gpu", "quant=nf4", "trainer.precision=bf16-mixed", "trainer.max_steps=4",
                    "~logger", "optimizer.lr=1e-2", "optimizer.name=paged_adamw_8bit", "training.validate_before=true",
                    "training.gradient_checkpointing=true", *_saved_tiny(tmp_path, tiny_model_cfg, smollm2_tokenizer))
    summary = run(cfg)
    assert summary["val_loss"] < summary["val_loss_before"]
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()
