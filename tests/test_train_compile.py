"""Regional compilation of the train step and the time-paced learning-rate schedule."""

import math

import pytest
import pytorch_lightning as pl
import torch
from training_helpers import train_cfg

from gpt4tools.training.compilation import CompileError, compile_decoder_layers, decoder_layers
from gpt4tools.training.run import build_callbacks, run


def _loss_and_grads(module, batch):
    module.model.zero_grad()
    loss, _ = module.loss_and_count(batch, frozen_prompt=module.frozen_prompt)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in module.model.named_parameters() if p.requires_grad}


def _module_and_batches(model_cfg, tokenizer, seed, frozen_prompt=False):
    """A LoRA module on ``model_cfg`` and two prompt-shared batches of different shapes."""
    from peft import LoraConfig, get_peft_model
    from training_helpers import make_items

    from gpt4tools.models import load_model
    from gpt4tools.training.module import LoRAModule
    from gpt4tools.training.samples import tokenize_samples
    from gpt4tools.training.sharing import SharedRowCollator, share_prompts

    model = get_peft_model(load_model(model_cfg, tokenizer),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM",
                                      init_lora_weights=False))
    module = LoRAModule(model, {"lr": 1e-3}, {}, frozen_prompt=frozen_prompt, pad_token_id=tokenizer.pad_token_id)
    samples = tokenize_samples(make_items(6, seed=seed), tokenizer, "chatml", 2048)
    collate = SharedRowCollator(tokenizer.pad_token_id)
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


def test_compiled_layers_share_their_graphs_in_frozen_prompt_steps(tiny_model_cfg, smollm2_tokenizer):
    """Frozen-prompt steps pass each layer's number to a key/value cache; no layer may get graphs of its own."""
    from omegaconf import OmegaConf

    graphs = []
    for layers in (2, 12):  # 12: more than dynamo's 8 recompiles, after which layers would silently run eagerly
        cfg = OmegaConf.merge(tiny_model_cfg, {"config": {"num_hidden_layers": layers}})
        graphs.append(_assert_compiled_matches_eager(*_module_and_batches(cfg, smollm2_tokenizer, seed=5,
                                                                         frozen_prompt=True)))
    assert graphs[0] == graphs[1]


def test_a_model_without_decoder_layers_is_refused():
    with pytest.raises(CompileError, match="training.compile=false"):
        compile_decoder_layers(torch.nn.Sequential(torch.nn.Linear(2, 2)))


class _LearningRates(pl.Callback):
    def __init__(self) -> None:
        self.rates: list[tuple[float, float]] = []  # (share of max_time used, learning rate)

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        # callbacks run before the module's hook: the share read here is the one the current rate was set from
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        self.rates.append((module._time_fraction, lr))


def test_time_budget_paces_the_schedule_by_the_clock(tmp_path, monkeypatch):
    import gpt4tools.training.run as run_mod

    recorder = _LearningRates()
    monkeypatch.setattr(run_mod, "build_callbacks", lambda c, tok=None: [recorder, *build_callbacks(c, tok)])
    cfg = train_cfg(tmp_path, "scheduler.time_budget=true", "scheduler.warmup_ratio=0", "optimizer.lr=1e-3",
                    "trainer.max_steps=100000", "trainer.max_epochs=1000", "trainer.max_time=00:00:00:06",
                    "training.validate_after=false", "checkpoint.every_n_train_steps=100000")
    run(cfg)
    fractions = [f for f, _ in recorder.rates]
    assert fractions == sorted(fractions) and fractions[-1] > 0.9
    for fraction, lr in recorder.rates:  # the cosine of the time share (the steps are far behind it)
        assert lr == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * fraction)), abs=1e-8)
    assert recorder.rates[-1][1] < 1e-4  # decayed, after a few dozen of the 12000 planned steps
    assert len(recorder.rates) < 1000


def test_time_budget_without_max_time_is_refused(tmp_path):
    cfg = train_cfg(tmp_path, "scheduler.time_budget=true", "trainer.max_steps=2")
    with pytest.raises(ValueError, match="needs trainer.max_time"):
        run(cfg)
