"""Adapters describe themselves (evaluation and the agent read the base model from the folder), load in plain peft
(ours and released-style ones), refuse another base by name; the merge command writes a plain HF folder."""

import json
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from training_helpers import train_cfg
from transformers import AutoModelForCausalLM

from gpt4tools.models import load_model
from gpt4tools.models.choice import AdapterMismatchError
from gpt4tools.training.export import adapter_base_model, load_adapter
from gpt4tools.training.merge import merge_adapter
from gpt4tools.training.run import run
from gpt4tools.utils.config import compose

SEEN = Path(__file__).resolve().parents[1] / "eval" / "fixtures" / "mini_val_seen.json"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """An adapter folder written by training on the tiny model (2 steps)."""
    tmp = tmp_path_factory.mktemp("trained")
    run(train_cfg(tmp, "trainer.max_steps=2", "~logger", "training.validate_after=false",
                  "training.validate_before=false"))
    return tmp / "run" / "adapter"


def test_the_adapter_folder_describes_itself(trained):
    for name in ("train_config.yaml", "chat_template.json", "prompt_format.json", "tool_catalog.json"):
        assert (trained / name).is_file(), name
    assert adapter_base_model(trained).name == "tiny" and adapter_base_model(trained).source == "tiny"
    assert "{tool_descriptions}" in json.loads((trained / "prompt_format.json").read_text())["prompt_template"]


def test_an_adapter_evaluates_without_model(trained, tmp_path):
    from gpt4tools.evaluation.run import run as evaluate_run

    cfg = compose("evaluate", [f"adapter={trained}", f"eval_sets=[{SEEN}]", "limit=2", "generation.max_new_tokens=2",
                               "plots=false", f"work_dir={tmp_path}"], output_dir=str(tmp_path))
    assert "model" not in cfg
    report = evaluate_run(cfg)
    assert report["meta"]["model"] == "tiny" and report["meta"]["adapter"] == str(trained)
    assert report["sets"]["mini_val_seen"]["strict"]["overall"]["n"] == 2


def test_the_closing_evaluation_scores_tuned_and_zero_shot_from_the_saved_adapter(trained, tmp_path):
    """train.py's closing evaluation, unmocked: the adapter folder, the run's eval files and the eval: settings."""
    from gpt4tools.training.run import _evaluate

    cfg = train_cfg(tmp_path, "eval.limit=2", "eval.zero_shot_limit=1", "eval.generation.max_new_tokens=2",
                    "eval.plots=false", "eval.scorers=[strict]")
    files = {split: trained.parents[1] / "data" / f"{split}.json" for split in ("train", "val_seen", "test_unseen")}
    report = _evaluate(cfg, trained, files)
    assert report["label"] == "tuned" and report["meta"]["model"] == "tiny"
    assert {name: res["strict"]["overall"]["n"] for name, res in report["sets"].items()} == {"val_seen": 2,
                                                                                             "test_unseen": 2}
    comparison = (tmp_path / "run" / "eval" / "comparison.md").read_text()
    assert "| val_seen | strict | zero_shot | 1 |" in comparison and "| test_unseen | strict | tuned | 2 |" in comparison


def test_the_agent_reads_the_base_model_from_the_adapter(trained, tmp_path):
    from gpt4tools.agent.build import build_llm

    llm, what = build_llm(compose("infer", [f"adapter={trained}"], output_dir=str(tmp_path)))
    assert what == f"tiny + LoRA adapter {trained}" and llm.name == "tiny"


@pytest.mark.parametrize("main", ["evaluate", "infer"])
def test_an_explicit_model_of_another_base_is_refused_before_loading(trained, tmp_path, monkeypatch, main):
    """model=X next to an adapter trained on another base: one error naming both, before any weight loads (and, for
    infer's adapter=auto, never a fall-back to the base model)."""
    import gpt4tools.inference as inference
    from gpt4tools.agent.build import build_llm
    from gpt4tools.evaluation.run import run as evaluate_run

    monkeypatch.setattr(inference, "load_model", lambda *a, **k: pytest.fail("weights were loaded"))
    monkeypatch.setattr(inference, "load_tokenizer", lambda *a, **k: pytest.fail("the tokenizer was loaded"))
    if main == "infer":  # adapter=auto finds it as the newest training run's
        (tmp_path / "train" / "latest").mkdir(parents=True)
        (tmp_path / "train" / "latest" / "adapter").symlink_to(trained)
        cfg = compose("infer", ["model=smollm2_135m", f"paths.output_root={tmp_path}"], output_dir=str(tmp_path))
    else:
        cfg = compose("evaluate", ["model=smollm2_135m", f"adapter={trained}", f"eval_sets=[{SEEN}]",
                                   f"work_dir={tmp_path}"], output_dir=str(tmp_path))
    with pytest.raises(AdapterMismatchError, match=r"trained on model tiny, but model=smollm2_135m was given"):
        build_llm(cfg) if main == "infer" else evaluate_run(cfg)


def test_an_adapter_whose_tensors_do_not_fit_the_base_is_refused(tmp_path, tiny_model_cfg, smollm2_tokenizer,
                                                                 monkeypatch):
    """A folder that does not record its base (plain peft) on a base of another shape: the named error before any
    weight loads (its safetensors header against the base's layers), and at load time for a ``.bin`` adapter."""
    from omegaconf import OmegaConf

    import gpt4tools.inference as inference
    from gpt4tools.inference import load_for_inference

    get_peft_model(load_model(tiny_model_cfg, smollm2_tokenizer),
                   LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).save_pretrained(tmp_path / "plain")
    wider = OmegaConf.merge(tiny_model_cfg, {"config": {"hidden_size": 128, "intermediate_size": 256}})
    with monkeypatch.context() as m:
        m.setattr(inference, "load_model", lambda *a, **k: pytest.fail("weights were loaded"))
        with pytest.raises(AdapterMismatchError, match=r"plain \(trained on .*\) does not fit model tiny: 8 of its 8"):
            load_for_inference(wider, adapter=tmp_path / "plain")
    from safetensors.torch import load_file

    (tmp_path / "bin").mkdir()
    torch.save(load_file(tmp_path / "plain" / "adapter_model.safetensors"), tmp_path / "bin" / "adapter_model.bin")
    (tmp_path / "bin" / "adapter_config.json").write_text((tmp_path / "plain" / "adapter_config.json").read_text())
    with pytest.raises(AdapterMismatchError, match=r"bin \(trained on .*\) does not fit model tiny"):
        load_for_inference(wider, adapter=tmp_path / "bin")


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
