"""Result figures: SR vs samples from adapter snapshots, ablation bars from a training sweep."""

import json
from pathlib import Path

import pytest

from gpt4tools.evaluation.figures import ablation_table, main, samples_table
from gpt4tools.evaluation.scores import METRICS


def _report(folder: Path, label: str, sr: dict[str, float], overrides: list[str] | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sets = {name: {"compat": {"overall": {"n": 10, **{m: value for m in METRICS}}}} for name, value in sr.items()}
    (folder / "report.json").write_text(json.dumps({"label": label, "sets": sets}))
    if overrides is not None:
        (folder / ".hydra").mkdir()
        (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


def test_curve_reads_samples_seen_from_each_adapter(tmp_path):
    sweep = tmp_path / "sweep"
    for i, (samples, sr) in enumerate([(40, 0.2), (80, 0.5), (120, 0.7)]):
        adapter = tmp_path / "run" / "adapters" / f"step_{samples // 4:06d}"
        adapter.mkdir(parents=True)
        (adapter / "training_progress.json").write_text(json.dumps({"global_step": samples // 4,
                                                                    "samples_seen": samples}))
        _report(sweep / str(i), "tuned", {"val_seen": sr, "test_unseen": sr - 0.1}, [f"adapter={adapter}"])
    table = samples_table(sweep)
    assert table["samples"].tolist() == [40, 80, 120]
    assert table["val_seen"].tolist() == [20.0, 50.0, 70.0]
    main(["curve", str(sweep), "--out", str(tmp_path / "fig" / "curve.png")])
    assert (tmp_path / "fig" / "curve.png").stat().st_size > 1000
    assert "| 120 |" in (tmp_path / "fig" / "curve.md").read_text()


def test_curve_without_progress_files_says_what_is_missing(tmp_path):
    _report(tmp_path / "sweep" / "0", "tuned", {"val_seen": 0.5}, ["adapter=/nowhere/adapter"])
    with pytest.raises(ValueError, match="training_progress.json"):
        samples_table(tmp_path / "sweep")


def test_ablation_table_labels_jobs_by_their_overrides_and_skips_zero_shot(tmp_path):
    sweep = tmp_path / "sweep"
    for i, (exp, sr) in enumerate([("cpu_default", 0.8), ("ablate_no_negatives", 0.4)]):
        job = sweep / str(i)
        _report(job / "eval", "tuned", {"val_seen": sr, "test_unseen": sr}, None)
        (job / "eval" / "scores").mkdir()
        called = "Segment the Image" if exp == "ablate_no_negatives" else "(no tool)"
        (job / "eval" / "scores" / "val_seen.compat.jsonl").write_text(
            json.dumps({"gt_tool": "none", "pred_tool": called}) + "\n"
            + json.dumps({"gt_tool": "(no tool)", "pred_tool": "(no tool)"}) + "\n"  # as the scorers write it
            + json.dumps({"gt_tool": "Segment the Image", "pred_tool": "Segment the Image"}) + "\n")
        _report(job / "eval" / "zero_shot", "zero_shot", {"val_seen": 0.0, "test_unseen": 0.0}, None)
        (job / ".hydra").mkdir()
        (job / ".hydra" / "overrides.yaml").write_text(f"- experiment={exp}\n- trainer.max_steps=30\n")
        (job / "adapter").mkdir()
        (job / "adapter" / "training_progress.json").write_text(json.dumps({"samples_seen": 100 + i}))
    table = ablation_table(sweep)
    assert table.set_index("job").loc["ablate_no_negatives", "samples"] == 101
    assert sorted(table["job"]) == ["ablate_no_negatives", "cpu_default"]
    assert table.set_index("job").loc["ablate_no_negatives", "SR val_seen"] == 40.0
    assert table.set_index("job").loc["ablate_no_negatives", "no-tool-called val_seen"] == 50.0
    assert table.set_index("job").loc["cpu_default", "no-tool-called val_seen"] == 0.0
    main(["ablation", str(sweep), "--out", str(tmp_path / "ab.png")])
    assert (tmp_path / "ab.png").is_file() and "ablate_no_negatives" in (tmp_path / "ab.md").read_text()
