"""Bad values end every entry point with one line on stderr (the error's name, the key or file, the fix), exit
status 2 and no traceback, before any weights load; GPT4TOOLS_DEBUG=1 shows the traceback. The entry points run as
subprocesses (a few seconds each, run side by side); the other cases call the checks in-process."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from training_helpers import TINY_RECIPE, write_dataset

from gpt4tools.utils.errors import EXIT_CODE

ROOT = Path(__file__).resolve().parents[1]
LOADED = ("LoRA on ", "Loading ", "Loaded adapter", "Trainer.fit", "Generating")
"""Log lines that only appear once weights are in memory."""


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def last_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""


def _run(args: list[str], debug: bool = False) -> Result:
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "GPT4TOOLS_DEBUG")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_MODE="offline", TOKENIZERS_PARALLELISM="false")
    if debug:
        env["GPT4TOOLS_DEBUG"] = "1"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    return Result(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def _plain_adapter(folder: Path, hidden: int = 64, r: int = 4) -> Path:
    """A peft adapter folder (no train_config.yaml) whose q_proj/v_proj LoRA tensors fit a base of width ``hidden``;
    only its safetensors header is read before loading."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for layer in range(2):
        for proj, out in (("q_proj", hidden), ("v_proj", hidden // 2)):
            key = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            tensors[f"{key}.lora_A.weight"] = torch.zeros(r, hidden)
            tensors[f"{key}.lora_B.weight"] = torch.zeros(out, r)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"],
        "base_model_name_or_path": "some/other-base"}))
    return folder


def _other_runs_checkpoint(root: Path) -> Path:
    """``<root>/train/old/checkpoints/last.ckpt`` of a run whose saved config has lora.r=8 (the CLI case uses 16)."""
    from gpt4tools.utils.config import compose

    cfg = compose("train", ["model=tiny", "lora.r=8"])
    run_dir = root / "train" / "old"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"not read: refused on its run's settings")
    OmegaConf.save(OmegaConf.create({"model": OmegaConf.to_container(cfg.model, resolve=True),
                                     "lora": OmegaConf.to_container(cfg.lora, resolve=True)}),
                   run_dir / "resolved_config.yaml")
    return run_dir / "checkpoints" / "last.ckpt"


def _cases(tmp: Path) -> dict[str, tuple[list[str], str, str, bool]]:
    """Case name -> (arguments, the error's name, text its line must hold, debug switch on)."""
    data = write_dataset(tmp / "data", n_train=8, n_val=4)
    binary = tmp / "binary.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    empty = tmp / "empty.jsonl"
    empty.write_text("")
    outputs = tmp / "outputs"
    _other_runs_checkpoint(outputs)
    adapter = _plain_adapter(tmp / "plain_adapter")
    train = ["train.py", "model=tiny", f"data.train_file={data['train']}", f"data.val_seen_file={data['val_seen']}",
             f"data.test_unseen_file={data['test_unseen']}", f"paths.output_root={outputs}", "eval.enabled=false",
             "~logger", *TINY_RECIPE]
    evaluate = ["evaluate.py", f"eval_sets=[{data['val_seen']}]", f"paths.output_root={outputs}", "zero_shot=false",
                "~logger"]
    tools = ["-m", "gpt4tools.tools", "--run", "Image2Canny", "--workspace", str(tmp / "ws")]
    return {
        "lora_r": ([*train, "lora.r=0"], "TrainingConfigError", "lora.r=0", False),
        "max_steps": ([*train, "trainer.max_steps=0"], "TrainingConfigError", "trainer.max_steps=0 trains nothing",
                      False),
        "binary_data": ([*train, f"data.train_file={binary}"], "DatasetError", f"{binary} is a binary file", False),
        "other_checkpoint": ([*train, "lora.r=16", "ckpt_path=last"], "TrainingConfigError", "lora.r: 8 there, 16 here",
                             False),
        "limit": ([*evaluate, "predictions=" + str(empty), "limit=-1"], "ConfigError", "limit=-1", False),
        "empty_predictions": ([*evaluate, f"predictions={empty}"], "EvalDataError", f"{empty}: holds no predictions",
                              False),
        "adapter_misfit": ([*evaluate, f"adapter={adapter}", "model=tiny", "model.config.hidden_size=128"],
                           "AdapterMismatchError", "does not fit model tiny", False),
        "tool_image_device": ([*tools, "--image", "/dev/zero"], "ImageFileError",
                              "--image=/dev/zero is a character device", False),
        "debug": ([*train, "lora.r=0"], "TrainingConfigError", "lora.r=0", True),
    }


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[Result, str, str]]:
    """Every case's subprocess (two at a time) with the error name and text expected."""
    cases = _cases(tmp_path_factory.mktemp("cli"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_run, args, debug) for name, (args, _, _, debug) in cases.items()}
    return {name: (futures[name].result(), error, text) for name, (_, error, text, _) in cases.items()}


@pytest.mark.parametrize("case", ["lora_r", "max_steps", "binary_data", "other_checkpoint", "limit",
                                  "empty_predictions", "adapter_misfit", "tool_image_device"])
def test_bad_value_is_one_line_before_loading(results, case):
    result, error, text = results[case]
    assert result.rc == EXIT_CODE, result.stderr[-2000:]
    assert result.last_line.startswith(f"error: {error}: ") and text in result.last_line, result.last_line
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert not any(marker in result.stdout + result.stderr for marker in LOADED), result.stdout[-2000:]
    assert result.seconds < 60


def test_debug_switch_shows_the_traceback(results):
    result, _, _ = results["debug"]
    assert result.rc != 0
    assert "Traceback" in result.stderr and "TrainingConfigError: lora.r=0" in result.stderr


# --- in-process: the checks behind the entry points ------------------------------------------------------------


@pytest.fixture(scope="module")
def train_config():
    from gpt4tools.utils.config import compose

    return compose("train", ["model=tiny"])


@pytest.mark.parametrize(("key", "value", "message"), [
    ("lora.r", 0, "lora.r=0"), ("lora.r", -2, "lora.r=-2"), ("lora.r", 1.5, "lora.r=1.5"),
    ("lora.lora_alpha", 0, "lora.lora_alpha=0"), ("lora.lora_dropout", 1.0, "lora.lora_dropout=1.0"),
    ("optimizer.lr", 0.0, "optimizer.lr=0.0"), ("optimizer.lr", -1e-3, "optimizer.lr=-0.001"),
    ("trainer.max_steps", 0, "trainer.max_steps=0 trains nothing"), ("trainer.max_steps", -5, "trainer.max_steps=-5"),
    ("trainer.max_epochs", 0, "trainer.max_epochs=0 trains nothing"),
    ("trainer.limit_train_batches", 0, "trainer.limit_train_batches=0 trains nothing"),
    ("trainer.accumulate_grad_batches", 0, "trainer.accumulate_grad_batches=0"),
    ("batching.batch_size", 0, "batching.batch_size=0"), ("batching.max_train_samples", -1, "max_train_samples=-1"),
    ("batching.val_max_samples", 0, "batching.val_max_samples=0"), ("scheduler.name", "wavy", "scheduler.name='wavy'"),
])
def test_training_values_that_cannot_work_are_refused(train_config, key, value, message):
    from gpt4tools.training.build import TrainingConfigError
    from gpt4tools.training.checks import check_train_config

    cfg = copy.deepcopy(train_config)
    OmegaConf.update(cfg, key, value, force_add=True)
    with pytest.raises(TrainingConfigError, match=message.replace(".", r"\.")):
        check_train_config(cfg)


def test_the_shipped_training_values_pass(train_config):
    from gpt4tools.training.checks import check_train_config

    check_train_config(train_config)
    cfg = copy.deepcopy(train_config)
    OmegaConf.update(cfg, "trainer.max_steps", -1)  # by epochs
    check_train_config(cfg)


@pytest.mark.parametrize("value", [0, -1, "ten"])
def test_eval_limits_below_one_are_refused(value):
    from gpt4tools.evaluation import EvalSettings
    from gpt4tools.utils.errors import ConfigError

    with pytest.raises(ConfigError, match=f"limit={value}: give a positive number"):
        EvalSettings.from_config(limit=value)


def test_data_files_that_are_not_json_text_name_the_file_and_item(tmp_path):
    from gpt4tools.data.io import DataFormatError, read_json_records
    from gpt4tools.training.samples import DatasetError, read_samples

    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "caf\u00e9", "output": "x"}],
                                  ensure_ascii=False).encode("latin-1"))
    with pytest.raises(DatasetError, match=r"latin1\.json: not UTF-8 text \(byte 0xe9 at offset \d+, line 1, item 1\)"):
        read_samples(latin1)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"instruction": "a", "output": "b"},\n {"instruction": "c" "output": "d"}]')
    with pytest.raises(DataFormatError, match=r"broken\.json: not valid JSON \(item 1, Expecting ',' delimiter"):
        read_json_records(broken)
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(DataFormatError, match=r"folder\.json is a directory, not a data file"):
        read_json_records(tmp_path / "folder.json")
    with pytest.raises(DataFormatError, match="/dev/zero is a character device"):
        read_json_records(Path("/dev/zero"))
    binary = tmp_path / "b.json"
    binary.write_bytes(b"[\x00\x01]")
    with pytest.raises(DataFormatError, match=r"b\.json is a binary file"):
        read_json_records(binary)
    empty = tmp_path / "e.json"
    empty.write_text("  \n")
    with pytest.raises(DataFormatError, match=r"e\.json: the file is empty"):
        read_json_records(empty)


def test_predictions_that_score_nothing_are_refused(tmp_path):
    from gpt4tools.evaluation.items import EvalDataError, EvalItem
    from gpt4tools.evaluation.predictions import load_predictions

    items = {"val": [EvalItem(str(i), "p", "Thought: Do I need to use a tool? No\nAI: x", set="val") for i in range(3)]}
    none = tmp_path / "none.json"
    none.write_text("[]")
    with pytest.raises(EvalDataError, match=r"none\.json: holds no predictions"):
        load_predictions(none, items)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "7", "set": "test", "response": "r"}) + "\n")
    with pytest.raises(EvalDataError, match=r"other\.jsonl: none of its 1 predictions is for an item of the eval set"):
        load_predictions(other, items)


def _saved_run(root: Path, name: str, cfg, **changes) -> Path:
    run_dir = root / "train" / name
    (run_dir / "checkpoints").mkdir(parents=True)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(b"x")
    saved = OmegaConf.create({"model": OmegaConf.to_container(cfg.model, resolve=True),
                              "lora": OmegaConf.to_container(cfg.lora, resolve=True)})
    for key, value in changes.items():
        OmegaConf.update(saved, key, value)
    OmegaConf.save(saved, run_dir / "resolved_config.yaml")
    return ckpt


def test_ckpt_last_takes_only_a_run_with_the_same_model_and_lora(tmp_path, caplog):
    from gpt4tools.training.build import TrainingConfigError
    from gpt4tools.training.run import resolve_ckpt_path
    from gpt4tools.utils.config import compose

    cfg = compose("train", ["model=tiny", f"paths.output_root={tmp_path}", "ckpt_path=last"],
                  output_dir=str(tmp_path / "train" / "new"))
    same = _saved_run(tmp_path, "a_same", cfg)
    other = _saved_run(tmp_path, "b_other_model", cfg, **{"model.name": "smollm2_135m"})
    os.utime(same, (1, 1))  # the other model's checkpoint is the newest
    with caplog.at_level("WARNING"):
        assert resolve_ckpt_path(cfg) == str(same)
    assert str(other) in caplog.text and "model.name: smollm2_135m there, tiny here" in caplog.text

    same.unlink()
    with pytest.raises(TrainingConfigError, match=r"no checkpoint of task train .*\(model\.name: smollm2_135m there"):
        resolve_ckpt_path(cfg)
    explicit = copy.deepcopy(cfg)
    explicit.ckpt_path = str(other)
    with pytest.raises(TrainingConfigError, match=r"was trained with other settings \(model\.name"):
        resolve_ckpt_path(explicit)
    explicit.ckpt_path = str(tmp_path)
    with pytest.raises(TrainingConfigError, match=r"is a directory: give a \.ckpt file"):
        resolve_ckpt_path(explicit)
    here = _saved_run(tmp_path, "new", cfg, **{"lora.r": 4})
    in_run = rf"this run folder's {re.escape(str(here))} .*lora\.r: 4 there, 16 here"
    with pytest.raises(TrainingConfigError, match=in_run):
        resolve_ckpt_path(cfg)


def test_an_adapter_that_does_not_fit_is_refused_from_its_header(tmp_path, tiny_model_cfg):
    from gpt4tools.models.choice import AdapterMismatchError, check_adapter_base

    check_adapter_base(tiny_model_cfg, _plain_adapter(tmp_path / "fits"))  # width 64, as the tiny model
    wider = OmegaConf.merge(tiny_model_cfg, {"config": {"hidden_size": 128}})
    with pytest.raises(AdapterMismatchError, match=r"trained on some/other-base\) does not fit model tiny: 8 of its 8"):
        check_adapter_base(wider, _plain_adapter(tmp_path / "narrow"))


def test_the_wrapper_reports_named_errors_and_keeps_bugs(capsys, monkeypatch):
    from hydra.errors import InstantiationException

    from gpt4tools.tools.errors import ImageFileError
    from gpt4tools.utils.errors import ConfigError, cli_errors

    def failing(err):
        @cli_errors
        def main():
            raise err
        return main

    monkeypatch.delenv("GPT4TOOLS_DEBUG", raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    for err, line in ((ConfigError("x=1: bad\n  give 2"), "error: ConfigError: x=1: bad give 2"),
                      (ImageFileError("--image=/tmp is a directory"),
                       "error: ImageFileError: --image=/tmp is a directory")):
        with pytest.raises(SystemExit) as stop:
            failing(err)()
        assert stop.value.code == EXIT_CODE and capsys.readouterr().err.strip() == line
    wrapped = InstantiationException("Error in call to target")
    wrapped.__cause__ = ConfigError("batching.x=0: bad")
    with pytest.raises(SystemExit):
        failing(wrapped)()
    assert capsys.readouterr().err.strip() == "error: ConfigError: batching.x=0: bad"
    with pytest.raises(KeyError):  # a bug keeps its traceback
        failing(KeyError("oops"))()
    monkeypatch.setenv("GPT4TOOLS_DEBUG", "1")
    with pytest.raises(ConfigError):
        failing(ConfigError("x=1: bad"))()
