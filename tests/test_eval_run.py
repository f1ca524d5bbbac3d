"""evaluate.py's job end to end on the tiny model: reports, resume, shards + merge, bad input, W&B."""

import json
from pathlib import Path

import pytest

from gpt4tools.evaluation.items import EvalDataError
from gpt4tools.utils.config import compose

FIXTURES = Path(__file__).resolve().parents[1] / "eval" / "fixtures"
SEEN = FIXTURES / "mini_val_seen.json"
UNSEEN = FIXTURES / "mini_test_unseen.json"


def _cfg(tmp_path, *overrides):
    return compose("evaluate", ["model=tiny", f"eval_sets=[{SEEN},{UNSEEN}]", "limit=5", "generation.max_new_tokens=6",
                                "generation.batch_size=3", f"work_dir={tmp_path}", *overrides],
                   output_dir=str(tmp_path))


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


def test_run_writes_predictions_reports_and_plots(tmp_path):
    from gpt4tools.evaluation.run import run

    report = run(_cfg(tmp_path))
    assert set(report["sets"]) == {"mini_val_seen", "mini_test_unseen"}
    assert report["sets"]["mini_val_seen"]["strict"]["overall"]["n"] == 5
    assert len(_lines(tmp_path / "predictions.jsonl")) == 10
    for name in ("report.json", "report.md", "plots/mini_val_seen.compat.per_tool_sr.png",
                 "plots/mini_test_unseen.strict.confusion.png", "scores/mini_val_seen.compat.jsonl"):
        assert (tmp_path / name).is_file(), name
    assert "| mini_val_seen | compat |" in (tmp_path / "report.md").read_text()


def test_interrupted_run_resumes(tmp_path, monkeypatch):
    from gpt4tools.evaluation.run import run
    from gpt4tools.inference import Generator

    calls = {"n": 0}
    real = Generator.generate_batch

    def flaky(self, prompts):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, prompts)

    monkeypatch.setattr(Generator, "generate_batch", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(_cfg(tmp_path, "generation.engine=hf"))
    done = _lines(tmp_path / "predictions.jsonl")
    assert len(done) == 5  # two batches (3 + 2) of the first set survived
    with open(tmp_path / "predictions.jsonl", "a") as f:
        f.write('{"id": "half-writ')  # a line cut by the interruption
    calls["n"] = -100
    report = run(_cfg(tmp_path, "generation.engine=hf"))
    after = _lines(tmp_path / "predictions.jsonl")
    assert len(after) == 10 and after[:5] == done
    assert calls["n"] == -100 + 2  # only the second set's two batches ran
    assert report["sets"]["mini_test_unseen"]["compat"]["overall"]["n"] == 5


def test_interrupted_continuous_batch_run_resumes(tmp_path, monkeypatch):
    """The ragged engine persists each item as it ends; a rerun generates only the rest."""
    from gpt4tools.evaluation.run import run
    from gpt4tools.inference import Generator

    real = Generator._iter_ragged
    seen = {"n": 0, "prompts": []}

    def flaky(self, prompts):
        seen["prompts"].append(len(prompts))
        for item in real(self, prompts):
            seen["n"] += 1
            if seen["n"] == 4:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(Generator, "_iter_ragged", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(_cfg(tmp_path))
    done = _lines(tmp_path / "predictions.jsonl")
    assert len(done) == 3
    seen["n"], seen["prompts"] = -100, []
    run(_cfg(tmp_path))
    after = _lines(tmp_path / "predictions.jsonl")
    assert len(after) == 10 and after[:3] == done
    assert seen["prompts"] == [2, 5]  # the first set's 2 missing items, then the second set


def test_resume_refuses_other_settings(tmp_path):
    from gpt4tools.evaluation.run import run

    run(_cfg(tmp_path, "limit=1"))
    with pytest.raises(EvalDataError, match="different settings"):
        run(_cfg(tmp_path, "limit=1", "generation.max_new_tokens=7"))


def test_shards_merge_to_the_unsharded_predictions(tmp_path):
    from gpt4tools.evaluation.run import run

    full = tmp_path / "full"
    run(_cfg(full))
    sharded = tmp_path / "sharded"
    for i in (0, 2):
        assert run(_cfg(sharded, f"shard.index={i}", "shard.count=3")) is None
    with pytest.raises(EvalDataError, match=r"shards \[1\] of 3 are missing"):
        run(_cfg(tmp_path / "merged", f"predictions={sharded}"))
    run(_cfg(sharded, "shard.index=1", "shard.count=3"))
    run(_cfg(tmp_path / "merged", f"predictions={sharded}"))
    key = sorted
    a = key((r["set"], r["id"], r["response"]) for r in _lines(full / "predictions.jsonl"))
    b = key((r["set"], r["id"], r["response"]) for f in sharded.glob("predictions.shard-*.jsonl") for r in _lines(f))
    assert a == b
    merged = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert merged["sets"] == json.loads((full / "report.json").read_text())["sets"]


def test_scoring_an_original_format_file(tmp_path):
    from gpt4tools.evaluation.run import run

    items = json.loads(SEEN.read_text())[:4]
    preds = [{"id": it["id"], "output": it["instruction"] + it["output"]} for it in items[:3]]
    preds.append({"id": items[3]["id"], "output": [it["instruction"] + "Thought: Do I need to use a tool? No\nAI: x"
                                                  for it in items[3:4]]})
    path = tmp_path / "orig.json"
    path.write_text(json.dumps(preds))
    report = run(_cfg(tmp_path / "out", f"eval_sets=[{SEEN}]", f"predictions={path}"))
    compat = report["sets"]["mini_val_seen"]["compat"]["overall"]
    strict = report["sets"]["mini_val_seen"]["strict"]["overall"]
    assert compat["n"] == 4 and compat["SR"] == 0.75
    assert strict["n"] == 5 and strict["SR"] == 0.6 and strict["n_missing"] == 1


def test_bad_eval_file_names_the_item(tmp_path):
    from gpt4tools.evaluation.run import run

    items = json.loads(SEEN.read_text())[:3]
    del items[1]["output"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(items))
    with pytest.raises(EvalDataError, match=r"bad.json: item 1 \(id='seen-1'\): missing field\(s\) output"):
        run(_cfg(tmp_path, f"eval_sets=[{bad}]"))


def test_tool_subset_and_wandb_logging(tmp_path):
    from gpt4tools.evaluation.run import run

    report = run(_cfg(tmp_path, "tools=unseen", "keep_no_tool=false", "limit=null", "generation.max_new_tokens=2",
                      "+logger.wandb._target_=pytorch_lightning.loggers.WandbLogger", "+logger.wandb.project=t",
                      f"+logger.wandb.save_dir={tmp_path}"))
    assert report["sets"]["mini_val_seen"]["compat"]["overall"]["n"] == 0
    assert report["sets"]["mini_test_unseen"]["compat"]["overall"]["n"] == 8
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs and any(p.suffix == ".wandb" for p in runs[0].iterdir())


def test_split_names_resolve_through_the_data_config(tmp_path):
    from gpt4tools.evaluation.sets import resolve_eval_sets

    cfg = _cfg(tmp_path, "eval_sets=val_seen", f"data.val_seen_file={SEEN}")
    assert resolve_eval_sets(cfg.eval_sets, cfg) == {"val_seen": SEEN}
    with pytest.raises(EvalDataError, match="neither a dataset split"):
        resolve_eval_sets("nowhere.json", cfg)


def test_report_breaks_scores_down_by_step_kind(tmp_path):
    """First calls, chain continuations, closing answers and no-tool requests get their own rows."""
    from gpt4tools.evaluation.items import STEP_KINDS, EvalItem
    from gpt4tools.evaluation.pipeline import score_and_report

    base = "Tools...\nNew input: make an edge image, then a cat from it\nGPT4Tools needs to use tools.\n"
    call = "Thought: Do I need to use a tool? Yes\nAction: Edge Detection On Image\nAction Input: a.png\nObservation:"
    after = base + call + " b.png\n"
    nxt = ("Thought: Do I need to use a tool? Yes\nAction: Generate Image Condition On Canny Image\n"
           "Action Input: b.png, a cat\nObservation:")
    answer = "Thought: Do I need to use a tool? No\nAI: b.png"
    items = [EvalItem("first", base, call, tool="Edge Detection On Image"),
             EvalItem("next", after, nxt, tool="Generate Image Condition On Canny Image"),
             EvalItem("close", after, answer), EvalItem("chat", "New input: hi\n", "Thought: Do I need to use a tool? No\nAI: hi")]
    assert [it.step_kind for it in items] == list(STEP_KINDS)
    preds = {"first": call, "next": answer, "close": answer, "chat": answer}  # the chain stops after one tool
    report, _ = score_and_report({"s": items}, {"s": preds}, tmp_path, scorers=("compat",), plots=False)
    per_step = report["sets"]["s"]["compat"]["per_step"]
    assert {k: v["SR"] for k, v in per_step.items()} == {STEP_KINDS[0]: 1.0, STEP_KINDS[1]: 0.0,
                                                         STEP_KINDS[2]: 1.0, STEP_KINDS[3]: 1.0}
    assert "| s | compat | next tool after an observation | 1 |" in (tmp_path / "report.md").read_text()


def test_the_settings_are_one_node_in_evaluate_and_train(tmp_path):
    """conf/evaluation/default.yaml: the top level of evaluate.yaml, mounted under train.yaml's eval: (no copies)."""
    from gpt4tools.evaluation.settings import EvalSettings

    evaluate_cfg = _cfg(tmp_path, "limit=3")
    train_cfg = compose("train", ["eval.limit=3", "eval.zero_shot=false", "eval.zero_shot_limit=null", "eval.label=null",
                                  "eval.generation.max_new_tokens=6", "eval.generation.batch_size=3"],
                        output_dir=str(tmp_path))
    assert set(EvalSettings.keys()) <= set(evaluate_cfg) and set(train_cfg.eval) == {*EvalSettings.keys(), "enabled",
                                                                                        "sets_from"}
    node = {k: v for k, v in train_cfg.eval.items() if k not in ("enabled", "sets_from")}
    assert EvalSettings.from_config(evaluate_cfg) == EvalSettings.from_config(node, strict=True)
    with pytest.raises(ValueError, match="zero_shot_limit=0"):
        EvalSettings.from_config(zero_shot_limit=0)
