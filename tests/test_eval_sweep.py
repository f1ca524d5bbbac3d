"""`python evaluate.py -m` with the basic and joblib launchers, and the sweep collector."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "eval" / "fixtures"
SEEN, UNSEEN = FIXTURES / "mini_val_seen.json", FIXTURES / "mini_test_unseen.json"


def _evaluate(*args: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, "evaluate.py", "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, tiny_model_cfg, smollm2_tokenizer):
    from peft import LoraConfig, get_peft_model

    from gpt4tools.models import load_model

    out = tmp_path_factory.mktemp("adapters")
    for name, seed in (("ckpt_a", 1), ("ckpt_b", 2)):
        import torch

        torch.manual_seed(seed)
        model = get_peft_model(load_model(tiny_model_cfg, smollm2_tokenizer),
                               LoraConfig(r=2, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                          init_lora_weights=False))
        model.save_pretrained(out / name)
    return out


def test_basic_launcher_sweeps_adapters_x_eval_sets_and_collects(adapters, tmp_path):
    sweep = tmp_path / "multirun"
    _evaluate("model=tiny", f"adapter={adapters / 'ckpt_a'},{adapters / 'ckpt_b'}", f"eval_sets={SEEN},{UNSEEN}",
              "limit=2", "generation.max_new_tokens=2", "plots=false", f"hydra.sweep.dir={sweep}")
    reports = sorted(sweep.glob("*/report.json"))
    assert len(reports) == 4
    assert {json.loads(p.read_text())["label"] for p in reports} == {"ckpt_a", "ckpt_b"}

    from gpt4tools.evaluation.collect import main

    main([str(sweep)])
    df = pd.read_csv(sweep / "comparison.csv")
    assert len(df) == 4 * 2  # jobs x scorers
    assert set(df["set"]) == {"mini_val_seen", "mini_test_unseen"} and set(df["scorer"]) == {"compat", "strict"}
    assert df["overrides"].str.contains("adapter=").all()
    md = (sweep / "comparison.md").read_text()
    assert md.count("\n") == 2 + 8 and "| SR |" in md.splitlines()[0] + " |"


def test_joblib_launcher_sweeps_predictions_x_tool_subsets(tmp_path):
    items = json.loads(SEEN.read_text()) + json.loads(UNSEEN.read_text())
    for name, good in (("perfect", True), ("silent", False)):
        lines = [json.dumps({"id": it["id"], "response": it["output"] if good else "no idea"}) for it in items]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    sweep = tmp_path / "multirun"
    _evaluate("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"eval_sets=[{SEEN},{UNSEEN}]",
              f"predictions={tmp_path / 'perfect.jsonl'},{tmp_path / 'silent.jsonl'}", "tools=seen,unseen",
              "plots=false", f"hydra.sweep.dir={sweep}")
    from gpt4tools.evaluation.collect import collect

    df = collect(sweep, scorer="strict")
    assert len(df) == 4 * 2
    perfect = df[df["label"] == "perfect"]
    assert (perfect["SR"][perfect["n"] > 0] == 100.0).all()
    assert (perfect["SR tool"][perfect["n tool"] > 0] == 100.0).all() and (perfect["n no-tool"] > 0).any()
    assert (df[df["label"] == "silent"]["SR"].fillna(0) == 0.0).all()


def test_adapter_run_with_zero_shot_side_by_side(adapters, tmp_path):
    from gpt4tools.evaluation.run import run
    from gpt4tools.utils.config import compose

    cfg = compose("evaluate", ["model=tiny", f"adapter={adapters / 'ckpt_a'}", "zero_shot=true", f"eval_sets=[{SEEN}]",
                               "limit=2", "generation.max_new_tokens=2", "plots=false", f"work_dir={tmp_path}"],
                  output_dir=str(tmp_path))
    run(cfg)
    table = (tmp_path / "comparison.md").read_text()
    assert "| ckpt_a | 2 |" in table and "| zero_shot | 2 |" in table
    meta = json.loads((tmp_path / "zero_shot" / "predictions.meta.json").read_text())
    assert meta["adapter"] is None


def test_zero_shot_baseline_takes_its_own_subset(adapters, tmp_path):
    from gpt4tools.evaluation.run import run
    from gpt4tools.utils.config import compose

    cfg = compose("evaluate", ["model=tiny", f"adapter={adapters / 'ckpt_a'}", "zero_shot=true", "zero_shot_limit=1",
                               f"eval_sets=[{SEEN}]", "limit=2", "generation.max_new_tokens=2", "plots=false",
                               f"work_dir={tmp_path}"], output_dir=str(tmp_path))
    run(cfg)
    table = (tmp_path / "comparison.md").read_text()
    assert "| ckpt_a | 2 |" in table and "| zero_shot | 1 |" in table
    zero_shot_lines = (tmp_path / "zero_shot" / "predictions.jsonl").read_text().splitlines()
    assert len(zero_shot_lines) == 1


def test_zero_shot_limit_must_be_positive_and_is_checked_before_generating(adapters, tmp_path):
    from gpt4tools.evaluation.run import run
    from gpt4tools.evaluation.sets import zero_shot_subset
    from gpt4tools.utils.config import compose

    assert zero_shot_subset({"s": [1, 2, 3]}, 2) == {"s": [1, 2]}
    assert zero_shot_subset({"s": [1, 2, 3]}, None) == {"s": [1, 2, 3]}
    cfg = compose("evaluate", ["model=tiny", f"adapter={adapters / 'ckpt_a'}", "zero_shot=true", "zero_shot_limit=0",
                               f"eval_sets=[{SEEN}]", "limit=2", "generation.max_new_tokens=2", "plots=false",
                               f"work_dir={tmp_path}"], output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="zero_shot_limit=0"):
        run(cfg)
    assert not list(tmp_path.rglob("predictions*.jsonl"))  # the tuned model generated nothing first
