"""Reports give the paper's overall SR and, beside it, the scores on items that need a tool and on those that need
none (with their n): in report.json, report.md, the side-by-side table, the printed table and W&B."""

import json

import pytest

from gpt4tools.evaluation import EvalSettings, PredictionsFile, evaluate
from gpt4tools.evaluation.report import log_to_wandb, side_by_side
from gpt4tools.prompt import final_step, tool_step

# 3 items that need a tool, 2 that need none; each prediction's outcome is known for both scorers
CASES = [  # id, gt output, prediction, compat success, strict success
    ("t1", tool_step("Segment the Image", "image/a.png"), tool_step("Segment the Image", "image/a.png"), 1, 1),
    ("t2", tool_step("Detect the Give Object", "image/a.png, the dog"),
     tool_step("Detect the Give Object", "image/zzz.png, the dog"), 1, 0),  # compat: any .png path will do
    ("t3", tool_step("Edge Detection On Image", "image/b.png"), final_step("No tool needed."), 0, 0),
    ("n1", final_step("Hi."), final_step("Hello."), 1, 1),
    ("n2", final_step("Hi."), tool_step("Segment the Image", "image/a.png"), 0, 0),
]


@pytest.fixture
def report(tmp_path, capsys):
    items = [{"id": i, "instruction": f"Tools...\nNew input: request {i}\n", "input": "", "output": gt}
             for i, gt, *_ in CASES]
    (tmp_path / "hand.json").write_text(json.dumps(items))
    preds = "".join(json.dumps({"id": i, "set": "hand", "response": p}) + "\n" for i, _, p, *_ in CASES)
    (tmp_path / "preds.jsonl").write_text(preds)
    rep = evaluate(PredictionsFile(tmp_path / "preds.jsonl"), {"hand": tmp_path / "hand.json"}, tmp_path / "out",
                   EvalSettings.from_config(plots=False))
    return rep, capsys.readouterr().out


def test_tool_and_no_tool_items_are_scored_apart(report):
    rep, _ = report
    for scorer, col in (("compat", 3), ("strict", 4)):
        res = rep["sets"]["hand"][scorer]
        wins = [c[col] for c in CASES]
        assert res["overall"]["n"] == 5 and res["overall"]["SR"] == pytest.approx(sum(wins) / 5)
        assert res["tool_items"]["n"] == 3 and res["tool_items"]["SR"] == pytest.approx(sum(wins[:3]) / 3)
        assert res["no_tool_items"]["n"] == 2 and res["no_tool_items"]["SR"] == pytest.approx(sum(wins[3:]) / 2)
    assert rep["sets"]["hand"]["compat"]["tool_items"]["SR"] == pytest.approx(2 / 3)
    assert rep["sets"]["hand"]["strict"]["tool_items"]["SR"] == pytest.approx(1 / 3)


def test_every_report_shows_the_split(report, tmp_path):
    rep, printed = report
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["sets"]["hand"]["strict"]["no_tool_items"] == {**rep["sets"]["hand"]["strict"]["no_tool_items"]}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| hand | compat | 5 |" in md and "| 66.7 (3) | 50.0 (2) |" in md  # compat: tool SR (n), no-tool SR (n)
    assert "| hand | strict | tool | 3 |" in md and "| hand | strict | no-tool | 2 |" in md
    assert "33.3 (3)" in printed and "50.0 (2)" in printed and "no-tool SR (n)" in printed
    table = side_by_side({"tuned": rep, "zero_shot": rep})
    assert table.count("| 33.3 (3) | 50.0 (2) |") == 2 and "tool SR (n)" in table.splitlines()[0]


def test_wandb_gets_the_split(report):
    rep, _ = report

    class Run:
        logged: dict = {}

        def log(self, metrics):
            self.logged.update(metrics)

    run = Run()
    log_to_wandb(rep, {}, run)
    assert run.logged["eval/hand/strict/tool_items/SR"] == pytest.approx(1 / 3)
    assert run.logged["eval/hand/compat/no_tool_items/SR"] == pytest.approx(0.5)
    assert run.logged["eval/hand/compat/tool_items/n"] == 3 and run.logged["eval/hand/strict/no_tool_items/n"] == 2
    assert run.logged["eval/hand/compat/SR"] == pytest.approx(0.6)
