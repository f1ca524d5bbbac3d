"""Prompt sharing: a chain's steps as one row give the loss and gradients of the separate samples."""

from functools import partial

import pytest
import torch

from gpt4tools.prompt import IGNORE_INDEX
from gpt4tools.training.rows import RowCollator, row_layout, single_rows
from gpt4tools.training.samples import TokenizedSample, tokenize_samples
from gpt4tools.training.sharing import share_prompts


def _chain_items() -> list[dict]:
    """The three samples of a two-tool chain plus one unrelated sample, as the data pipeline writes them."""
    from training_helpers import make_items

    base = make_items(1, seed=3, negatives=0.0)[0]["instruction"]
    step1 = "Thought: Do I need to use a tool? Yes\nAction: Pose Detection On Image\nAction Input: a.png\nObservation:\n"
    step2 = ("Thought: Do I need to use a tool? Yes\nAction: Generate Image Condition On Pose Image\n"
             "Action Input: image/p.png, a dancer\nObservation:\n")
    final = "Thought: Do I need to use a tool? No\nAI: Here is the new image: image/g.png\n"
    after1 = base + step1.rstrip("\n") + " Result saved as image/p.png\n"
    after2 = after1 + step2.rstrip("\n") + " image/g.png\n"
    other = make_items(2, seed=9, negatives=0.0)[1]
    return [{"instruction": base, "output": step1}, {"instruction": after1, "output": step2},
            {"instruction": after2, "output": final}, {"instruction": other["instruction"], "output": other["output"]}]


def test_chain_steps_share_one_row_and_stragglers_stay_alone(smollm2_tokenizer):
    samples = tokenize_samples(_chain_items(), smollm2_tokenizer, "chatml", 2048)
    rows = share_prompts(samples)
    assert sorted(r.num_samples for r in rows) == [1, 3]
    restored = [s for r in rows for s in r.samples()]
    assert sorted(map(tuple, (s.input_ids for s in restored))) == sorted(map(tuple, (s.input_ids for s in samples)))
    assert sorted(map(tuple, (s.labels for s in restored))) == sorted(map(tuple, (s.labels for s in samples)))
    chain = next(r for r in rows if r.num_samples == 3)
    assert len(chain.trunk) > 0.8 * len(samples[0])
    assert sum(len(r) for r in rows) < 0.6 * sum(len(s) for s in samples)
    # every target token of every sample is predicted once, from a position of its own branch
    ids, _, next_labels, spans = row_layout(chain)
    assert all(label == IGNORE_INDEX for label in next_labels[:len(chain.trunk)])
    assert sum(label != IGNORE_INDEX for label in next_labels) == sum(s.num_targets for s in samples[:3])
    assert spans[0][0] == len(chain.trunk) and spans[-1][1] == len(ids)


def test_limits_keep_rows_small():
    prompt = list(range(100))
    samples = [TokenizedSample([*prompt, 500 + i, 7], [IGNORE_INDEX] * 101 + [7]) for i in range(5)]
    assert [r.num_samples for r in share_prompts(samples, max_members=2)] == [2, 2, 1]
    assert all(r.num_samples == 1 for r in share_prompts(samples, max_row_length=103))
    assert all(r.num_samples == 1 for r in share_prompts(samples, min_shared=0.999))


def test_shared_rows_give_the_loss_and_gradients_of_separate_samples(tiny_model_cfg, smollm2_tokenizer):
    from peft import LoraConfig, get_peft_model

    from gpt4tools.models import load_model
    from gpt4tools.training.module import LoRAModule

    torch.manual_seed(0)
    model = get_peft_model(load_model(tiny_model_cfg, smollm2_tokenizer),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM", init_lora_weights=False))
    samples = tokenize_samples(_chain_items(), smollm2_tokenizer, "chatml", 2048)
    module = LoRAModule(model, partial(torch.optim.AdamW, lr=1e-3))
    model.eval()

    def loss_and_grads(batch):
        model.zero_grad()
        loss, count = module.loss_and_count(batch)
        loss.backward()
        return loss.detach(), count, {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    separate = loss_and_grads(RowCollator(smollm2_tokenizer.pad_token_id)(single_rows(samples)))
    shared_batch = RowCollator(smollm2_tokenizer.pad_token_id)(share_prompts(samples))
    assert shared_batch["input_ids"].numel() < RowCollator(0)(single_rows(samples))["input_ids"].numel()
    shared = loss_and_grads(shared_batch)
    assert shared[1] == separate[1] == sum(s.num_targets for s in samples)
    torch.testing.assert_close(shared[0], separate[0], rtol=1e-4, atol=1e-5)
    for name, grad in separate[2].items():
        torch.testing.assert_close(shared[2][name], grad, rtol=1e-3, atol=1e-6)


def test_sharing_and_packing_exclude_each_other(smollm2_tokenizer, tmp_path):
    from gpt4tools.training.datamodule import GPT4ToolsDataModule

    with pytest.raises(ValueError, match="exclude each other"):
        GPT4ToolsDataModule(tmp_path / "t.json", None, smollm2_tokenizer, "chatml", 1024, packing=True,
                            share_prompts=True)


def _tiny_gemma3(vocab_size: int, window: int):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=32, sliding_window=window,
                              layer_types=["sliding_attention", "full_attention"], max_position_embeddings=4096)
    return Gemma3ForCausalLM(config)


def test_sliding_window_backbones_get_the_window_in_shared_rows(smollm2_tokenizer):
    """Gemma-style layers slide a window; a shared row must apply it from the true positions."""
    from peft import LoraConfig, get_peft_model

    from gpt4tools.training.module import LoRAModule
    from gpt4tools.training.rows import masks_for_layers

    model = get_peft_model(_tiny_gemma3(len(smollm2_tokenizer), window=16),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM",
                                      init_lora_weights=False)).eval()
    module = LoRAModule(model, partial(torch.optim.AdamW, lr=1e-3))
    samples = tokenize_samples(_chain_items()[:3], smollm2_tokenizer, "chatml", 2048)
    separate, _ = module.loss_and_count(RowCollator(smollm2_tokenizer.pad_token_id)(single_rows(samples)))
    shared_batch = RowCollator(smollm2_tokenizer.pad_token_id)(share_prompts(samples))
    masks = masks_for_layers(model.config, shared_batch["attention_mask"], shared_batch["position_ids"])
    assert set(masks) == {"full_attention", "sliding_attention"}
    assert masks["sliding_attention"].sum() < masks["full_attention"].sum()
    shared, _ = module.loss_and_count(shared_batch)
    torch.testing.assert_close(shared, separate, rtol=1e-4, atol=1e-5)
    # the one 4-D mask alone (what the model would do with it) lets sliding layers see past the window
    inputs = {k: shared_batch[k] for k in ("input_ids", "attention_mask", "position_ids")}
    logits = model(**inputs, use_cache=False).logits
    keep = shared_batch["shift_labels"] != IGNORE_INDEX
    unwindowed = torch.nn.functional.cross_entropy(logits[keep].float(), shared_batch["shift_labels"][keep])
    assert not torch.allclose(unwindowed, separate, rtol=1e-3, atol=1e-4)


def test_a_window_without_layer_types_is_refused():
    from types import SimpleNamespace

    from gpt4tools.training.rows import masks_for_layers

    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match="share_prompts=false"):
        masks_for_layers(SimpleNamespace(sliding_window=8, layer_types=None), mask, torch.arange(4)[None])
    assert masks_for_layers(SimpleNamespace(sliding_window=None, layer_types=None), mask, torch.arange(4)[None]) is mask
