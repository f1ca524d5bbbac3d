"""Frozen-prompt steps: the prompt runs without gradients; same loss, gradients through the targets only."""

import pytest
import torch
from test_train_sharing import _chain_items, _tiny_gemma3

from gpt4tools.prompt import IGNORE_INDEX
from gpt4tools.training.batching import Collator
from gpt4tools.training.prompt_cache import split_prompt
from gpt4tools.training.samples import tokenize_samples
from gpt4tools.training.sharing import SharedRowCollator, share_prompts


def _lora(model):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM",
                                            init_lora_weights=False))


def _loss_and_grads(module, batch, frozen: bool):
    module.model.zero_grad()
    loss, count = module.loss_and_count(batch, frozen_prompt=frozen)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in module.model.named_parameters() if p.requires_grad}
    return loss.detach(), count, grads


@pytest.fixture
def chain_module(tiny_model_cfg, smollm2_tokenizer):
    from gpt4tools.models import load_model
    from gpt4tools.training.module import LoRAModule

    torch.manual_seed(0)
    model = _lora(load_model(tiny_model_cfg, smollm2_tokenizer)).eval()
    samples = tokenize_samples(_chain_items(), smollm2_tokenizer, "chatml", 2048)
    return LoRAModule(model, {"lr": 1e-3}, {}, pad_token_id=smollm2_tokenizer.pad_token_id), samples


def test_the_split_keeps_every_target_in_the_grad_part_and_no_prompt_sees_it(chain_module, smollm2_tokenizer):
    _, samples = chain_module
    batch = Collator(smollm2_tokenizer.pad_token_id)(samples)
    part = split_prompt(batch, smollm2_tokenizer.pad_token_id)
    assert int((part.grad_targets != IGNORE_INDEX).sum()) == sum(s.num_targets for s in samples)
    # the grad part is a few dozen positions per sample; the prompt part is the rest
    assert part.grad_ids.shape[1] < 0.25 * batch["input_ids"].shape[1] < part.cached_ids.shape[1]
    assert part.cached_mask.shape[-1] == part.cached_ids.shape[1]
    assert part.grad_mask.shape[-1] == part.cached_ids.shape[1] + part.grad_ids.shape[1]


@pytest.mark.parametrize("layout", ["separate", "shared"])
def test_frozen_prompt_gives_the_same_loss_and_a_descent_direction(chain_module, smollm2_tokenizer, layout):
    module, samples = chain_module
    pad = smollm2_tokenizer.pad_token_id
    batch = Collator(pad)(samples) if layout == "separate" else SharedRowCollator(pad)(share_prompts(samples))
    full = _loss_and_grads(module, batch, frozen=False)
    frozen = _loss_and_grads(module, batch, frozen=True)
    assert frozen[1] == full[1]
    torch.testing.assert_close(frozen[0], full[0], rtol=1e-4, atol=1e-5)
    flat_full = torch.cat([g.flatten() for g in full[2].values()])
    flat_frozen = torch.cat([g.flatten() for g in frozen[2].values()])
    assert not torch.allclose(flat_frozen, flat_full)  # the prompt's share of the gradient is cut
    assert torch.nn.functional.cosine_similarity(flat_frozen, flat_full, dim=0) > 0.2


def test_both_layouts_truncate_alike(chain_module, smollm2_tokenizer):
    """A shared row and its separate samples cut the same prompt: same loss, same truncated gradients."""
    module, samples = chain_module
    pad = smollm2_tokenizer.pad_token_id
    separate = _loss_and_grads(module, Collator(pad)(samples), frozen=True)
    shared = _loss_and_grads(module, SharedRowCollator(pad)(share_prompts(samples)), frozen=True)
    torch.testing.assert_close(shared[0], separate[0], rtol=1e-4, atol=1e-5)
    for name, grad in separate[2].items():
        torch.testing.assert_close(shared[2][name], grad, rtol=1e-3, atol=1e-6)


def test_frozen_prompt_keeps_sliding_windows(smollm2_tokenizer):
    from gpt4tools.training.module import LoRAModule

    model = _lora(_tiny_gemma3(len(smollm2_tokenizer), window=16)).eval()
    module = LoRAModule(model, {"lr": 1e-3}, {}, pad_token_id=smollm2_tokenizer.pad_token_id)
    samples = tokenize_samples(_chain_items()[:3], smollm2_tokenizer, "chatml", 2048)
    batch = SharedRowCollator(smollm2_tokenizer.pad_token_id)(share_prompts(samples))
    full, _ = module.loss_and_count(batch)
    frozen, _ = module.loss_and_count(batch, frozen_prompt=True)
    torch.testing.assert_close(frozen, full, rtol=1e-4, atol=1e-5)


def test_packed_rows_are_refused(smollm2_tokenizer):
    samples = tokenize_samples(_chain_items()[:2], smollm2_tokenizer, "chatml", 2048)
    packed = Collator(smollm2_tokenizer.pad_token_id, pack=True)(samples)
    with pytest.raises(ValueError, match="packing=false"):
        split_prompt(packed)
