"""Regional compilation of the train step: the same loss and gradients as eager layers."""

from functools import partial

import pytest
import torch

from gpt4tools.training.compilation import CompileError, compile_decoder_layers, decoder_layers


def _loss_and_grads(module, batch):
    module.model.zero_grad()
    loss, _ = module.loss_and_count(batch)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in module.model.named_parameters() if p.requires_grad}


def _module_and_batches(model_cfg, tokenizer, seed):
    """A LoRA module on ``model_cfg`` and two prompt-shared batches of different shapes."""
    from peft import LoraConfig, get_peft_model
    from training_helpers import make_items

    from gpt4tools.models import load_model
    from gpt4tools.training.module import LoRAModule
    from gpt4tools.training.rows import RowCollator
    from gpt4tools.training.samples import tokenize_samples
    from gpt4tools.training.sharing import share_prompts

    model = get_peft_model(load_model(model_cfg, tokenizer),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM",
                                      init_lora_weights=False))
    module = LoRAModule(model, partial(torch.optim.AdamW, lr=1e-3))
    samples = tokenize_samples(make_items(6, seed=seed), tokenizer, "chatml", 2048)
    collate = RowCollator(tokenizer.pad_token_id)
    batch, other = collate(share_prompts(samples[:4])), collate(share_prompts(samples[4:]))
    assert batch["input_ids"].shape != other["input_ids"].shape
    return module, batch, other


def _assert_compiled_matches_eager(module, batch, other) -> int:
    """Compile ``module``'s layers, check loss and gradients against eager mode; returns the graphs compiled."""
    from torch._dynamo.utils import counters

    eager_loss, eager_grads = _loss_and_grads(module, batch)
    torch._dynamo.reset()
    counters.clear()
    layers = compile_decoder_layers(module.model)
    assert layers == module.model.config.num_hidden_layers == len(list(decoder_layers(module.model)))
    _loss_and_grads(module, other)  # another shape first: the graph is compiled for dynamic shapes
    loss, grads = _loss_and_grads(module, batch)
    assert counters["stats"]["unique_graphs"] >= 1  # the layers did run compiled
    torch.testing.assert_close(loss, eager_loss, rtol=1e-4, atol=1e-5)
    for name, grad in eager_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-3, atol=1e-5, msg=name)
    return counters["stats"]["unique_graphs"]


def test_compiled_layers_give_the_eager_loss_and_gradients(tiny_model_cfg, smollm2_tokenizer):
    module, batch, other = _module_and_batches(tiny_model_cfg, smollm2_tokenizer, seed=4)
    _assert_compiled_matches_eager(module, batch, other)


def test_a_model_without_decoder_layers_is_refused():
    with pytest.raises(CompileError, match="training.compile=false"):
        compile_decoder_layers(torch.nn.Sequential(torch.nn.Linear(2, 2)))
