"""Adapters load in plain peft (ours and released-style ones); the merge command writes a plain HF folder."""

import json

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from training_helpers import train_cfg
from transformers import AutoModelForCausalLM

from gpt4tools.models import load_model
from gpt4tools.training.export import load_adapter
from gpt4tools.training.merge import merge_adapter
from gpt4tools.training.run import run


def test_trained_adapter_loads_in_plain_peft_and_merges(tmp_path, smollm2_tokenizer):
    cfg = train_cfg(tmp_path, "trainer.max_steps=2", "~logger", "training.validate_after=false",
                    "optimizer.lr=5e-2")
    adapter = tmp_path / "run" / "adapter"
    run(cfg)
    base = load_model(cfg.model, smollm2_tokenizer)
    ids = torch.tensor([smollm2_tokenizer("Thought: Do I need to use a tool? Yes")["input_ids"]])
    with torch.no_grad():
        plain = base(ids).logits
        tuned = PeftModel.from_pretrained(load_model(cfg.model, smollm2_tokenizer), str(adapter)).eval()
        tuned_logits = tuned(ids).logits
    assert not torch.allclose(plain, tuned_logits)  # the adapter changes the model
    merged_dir = merge_adapter(adapter)
    assert merged_dir == tmp_path / "run" / "merged"
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir)).eval()
    assert not any("lora" in k for k in merged.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, tuned_logits, rtol=1e-4, atol=1e-4)


def test_released_style_adapter_loads(tmp_path, tiny_model_cfg, smollm2_tokenizer):
    """An early-peft folder as released with GPT4Tools: extra config keys and adapter_model.bin."""
    model = get_peft_model(load_model(tiny_model_cfg, smollm2_tokenizer),
                           LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    model.save_pretrained(str(tmp_path / "new"))
    from safetensors.torch import load_file

    folder = tmp_path / "released"
    folder.mkdir()
    torch.save(load_file(tmp_path / "new" / "adapter_model.safetensors"), folder / "adapter_model.bin")
    config = json.loads((tmp_path / "new" / "adapter_config.json").read_text())
    config.update(enable_lora=None, merge_weights=False)
    (folder / "adapter_config.json").write_text(json.dumps(config))
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    loaded = load_adapter(load_model(tiny_model_cfg, smollm2_tokenizer), folder).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model.eval()(ids).logits)
