"""End-to-end LoRA training on the tiny model: adapter folder, checkpoints, metrics, exact resume."""

import csv
import json

import pytest
import pytorch_lightning as pl
import torch
from safetensors.torch import load_file
from training_helpers import train_cfg

from gpt4tools.training.run import build_callbacks, run


class _Killed(RuntimeError):
    """Stands in for a killed job."""


class _Recorder(pl.Callback):
    """Records the samples of every training batch; optionally dies after a given optimizer step."""

    def __init__(self, die_at: int | None = None) -> None:
        self.seen: list[tuple[int, ...]] = []
        self.die_at = die_at

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.seen.append(tuple(hash(tuple(r.tolist())) for r in batch["input_ids"]))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self.die_at is not None and trainer.global_step == self.die_at:
            raise _Killed("simulated kill")


def _run_with(cfg, callback, monkeypatch):
    import gpt4tools.training.run as run_mod

    monkeypatch.setattr(run_mod, "build_callbacks", lambda c, tok=None: [callback, *build_callbacks(c, tok)])
    return run(cfg)


def test_train_writes_adapter_checkpoint_and_metrics(tmp_path):
    cfg = train_cfg(tmp_path, "trainer.max_steps=4", "checkpoint.every_n_train_steps=2", "logger=csv",
                    "checkpoint.adapter_every_n_steps=2")
    summary = run(cfg)
    snapshots = sorted(p.name for p in (tmp_path / "run" / "adapters").iterdir())
    assert snapshots == ["step_000002", "step_000004"]
    last = load_file(tmp_path / "run" / "adapters" / "step_000004" / "adapter_model.safetensors")
    final = load_file(tmp_path / "run" / "adapter" / "adapter_model.safetensors")
    assert last.keys() == final.keys() and all(torch.equal(last[k], final[k]) for k in final)
    first = load_file(tmp_path / "run" / "adapters" / "step_000002" / "adapter_model.safetensors")
    assert any(not torch.equal(first[k], final[k]) for k in final)
    progress = json.loads((tmp_path / "run" / "adapters" / "step_000002" / "training_progress.json").read_text())
    assert progress == {"global_step": 2, "samples_seen": 8}
    assert json.loads((tmp_path / "run" / "adapter" / "training_progress.json").read_text())["global_step"] == 4
    adapter = tmp_path / "run" / "adapter"
    for name in ("adapter_config.json", "adapter_model.safetensors", "train_config.yaml", "chat_template.json",
                 "tool_catalog.json", "tokenizer.json"):
        assert (adapter / name).is_file(), name
    assert json.loads((adapter / "chat_template.json").read_text())["name"] == "chatml"
    assert len(json.loads((adapter / "tool_catalog.json").read_text())) == 27
    assert all("lora_" in k for k in load_file(adapter / "adapter_model.safetensors"))
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["state_dict"] and all("lora_" in k for k in ckpt["state_dict"])  # only trainable weights
    assert ckpt["optimizer_states"] and ckpt["lr_schedulers"] and "loops" in ckpt
    assert ckpt["GPT4ToolsDataModule"]["batches_done"] == 4
    metrics = next((tmp_path / "run").rglob("metrics.csv"))
    columns = set(next(csv.reader(metrics.open())))
    assert {"train/loss", "train/lr", "train/tokens_per_s", "train/nonpad_tokens_per_s", "val/loss"} <= columns
    hparams = next((tmp_path / "run").rglob("hparams.yaml")).read_text()
    assert "target_only_logits" in hparams and "lora_alpha" in hparams  # the resolved config is logged
    assert summary["val_loss"] == summary["val_loss"] and summary["samples_seen"] == 16


def test_resume_after_kill_matches_uninterrupted_run(tmp_path, monkeypatch):
    common = ["trainer.max_epochs=2", "checkpoint.every_n_train_steps=4", "batching.batch_size=3",
              "lora.lora_dropout=0.1", "optimizer.lr=1e-2", "~logger", "training.validate_after=false"]
    ref = _Recorder()
    _run_with(train_cfg(tmp_path / "a", *common, n_train=18), ref, monkeypatch)

    killed = _Recorder(die_at=10)  # 6 batches per epoch; the last checkpoint (step 8) is mid second epoch
    cfg_b = train_cfg(tmp_path / "b", *common, n_train=18)
    with pytest.raises(_Killed):
        _run_with(cfg_b, killed, monkeypatch)
    assert not (tmp_path / "b" / "run" / "adapter").exists()
    resumed = _Recorder()
    _run_with(train_cfg(tmp_path / "b", *common, "ckpt_path=last", n_train=18), resumed, monkeypatch)

    assert killed.seen[:8] + resumed.seen == ref.seen  # no batch repeated or skipped
    a = load_file(tmp_path / "a" / "run" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "b" / "run" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    assert any(v.abs().sum() > 0 for k, v in a.items() if "lora_B" in k)  # it did train


@pytest.mark.parametrize("layout", ["batching.share_prompts=true", "batching.packing=true"])
def test_the_same_command_gives_the_same_adapter(layout, tmp_path):
    """A recipe is a fixed number of steps over a seeded order: rerunning it reproduces the adapter exactly."""
    common = ["trainer.max_steps=5", "batching.batch_size=2", "batching.share_prompts=false", layout,
              "lora.lora_dropout=0.1", "optimizer.lr=1e-2", "~logger", "training.validate_after=false"]
    summaries = [run(train_cfg(tmp_path / name, *common)) for name in ("a", "b")]
    assert summaries[0]["samples_seen"] == summaries[1]["samples_seen"] > 5  # rows of several samples
    a, b = (load_file(tmp_path / name / "run" / "adapter" / "adapter_model.safetensors") for name in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(v.abs().sum() > 0 for k, v in a.items() if "lora_B" in k)


@pytest.mark.parametrize("sets_from", ["run", "default"])
def test_evaluation_after_training_scores_the_chosen_eval_sets(sets_from, tmp_path, monkeypatch):
    """The closing evaluation is one plain call: the saved adapter, the eval files, the eval: settings; ablations
    that change the data are scored on the default dataset's eval sets, not their own."""
    from gpt4tools.evaluation import pipeline, sets
    from gpt4tools.training import run as train_run

    calls = []
    monkeypatch.setattr(pipeline, "evaluate", lambda *args: calls.append(args) or {"sets": {}})
    monkeypatch.setattr(sets, "default_eval_files", lambda paths: {"val_seen": "default_val.json"})
    cfg = train_cfg(tmp_path, "eval.enabled=true", f"eval.sets_from={sets_from}", "eval.limit=5")
    files = {"train": tmp_path / "own_train.json", "val_seen": tmp_path / "own_val.json"}
    assert train_run._evaluate(cfg, tmp_path / "adapter", files) == {"sets": {}}
    (source, eval_sets, out_dir, settings), = calls
    assert source.adapter == tmp_path / "adapter" and source.model is None  # the adapter names its base
    assert eval_sets == ({"val_seen": files["val_seen"]} if sets_from == "run" else {"val_seen": "default_val.json"})
    assert out_dir == tmp_path / "run" / "eval"
    assert (settings.limit, settings.zero_shot, settings.zero_shot_limit, settings.label) == (5, True, 16, "tuned")


def test_an_unknown_closing_evaluation_setting_is_refused(tmp_path):
    from omegaconf import open_dict

    from gpt4tools.training.run import _evaluate

    cfg = train_cfg(tmp_path)
    with open_dict(cfg):
        cfg.eval.overrides = ["limit=5"]  # the form of before: the settings are plain keys of eval: now
    with pytest.raises(ValueError, match="unknown evaluation setting.*overrides"):
        _evaluate(cfg, tmp_path / "adapter", {})


@pytest.mark.parametrize("layout", ["batching.share_prompts=true", "batching.packing=true"])
def test_rows_of_several_samples_need_an_attention_that_takes_4d_masks(layout, tmp_path):
    from gpt4tools.training.build import TrainingConfigError
    from gpt4tools.training.run import build_datamodule

    cfg = train_cfg(tmp_path, "batching.share_prompts=false", layout, "+model.attn_implementation=flash_attention_2")
    with pytest.raises(TrainingConfigError, match="4-D attention mask"):
        build_datamodule(cfg, None, {})


@pytest.mark.parametrize("override, error", [("eval.sets_from=test", "eval.sets_from='test'"),
                                             ("+eval.limt=5", "unknown evaluation setting"),
                                             ("eval.limit=0", "limit=0")])
def test_bad_eval_settings_are_refused_before_training(override, error, tmp_path, monkeypatch):
    monkeypatch.setattr(pl, "seed_everything", lambda *a, **k: pytest.fail("got past the config check"))
    with pytest.raises(ValueError, match=error):
        run(train_cfg(tmp_path, "eval.enabled=true", override))
