"""Result figures from sweeps: SR against training samples seen, and ablation bars.

    python -m gpt4tools.evaluation.figures curve outputs/evaluate/multirun/<sweep> --out experiments/sr_vs_samples.png
    python -m gpt4tools.evaluation.figures ablation outputs/train/multirun/<sweep> --out experiments/ablations.png

``curve`` reads an evaluation sweep over adapter snapshots (``adapter=<run>/adapters/step_N,...``; the
number of samples each had seen comes from its ``training_progress.json``). ``ablation`` reads a
training sweep whose jobs evaluated themselves (``<job>/eval``), one bar group per job. Both write the
PNG and a Markdown table next to it.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from gpt4tools.evaluation.collect import collect, markdown_table  # noqa: E402
from gpt4tools.evaluation.scores import NO_TOOL  # noqa: E402

log = logging.getLogger(__name__)
_ADAPTER = re.compile(r"(?:^|\s)adapter=(\S+)")


def samples_table(sweep_dir: str | Path, scorer: str = "compat") -> pd.DataFrame:
    """SR per eval set against the training samples each swept adapter had seen."""
    from gpt4tools.training.export import adapter_progress

    df = collect(sweep_dir, scorer)
    samples = []
    for overrides in df["overrides"]:
        m = _ADAPTER.search(overrides)
        progress = adapter_progress(m.group(1)) if m else None
        if progress is None:
            raise ValueError(f"{sweep_dir}: job '{overrides}' names no adapter with a training_progress.json "
                             "(sweep over <run>/adapters/step_* and <run>/adapter)")
        samples.append(int(progress["samples_seen"]))
    df = df.assign(samples=samples)
    return df.pivot_table(index="samples", columns="set", values="SR").reset_index()


def plot_samples_curve(table: pd.DataFrame, out: str | Path, title: str = "SR vs training samples") -> Path:
    """A line per eval set: compat SR (percent) against samples seen."""
    out = Path(out)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in [c for c in table.columns if c != "samples"]:
        ax.plot(table["samples"], table[name], marker="o", label=name)
    ax.set_xlabel("training samples seen")
    ax.grid(alpha=0.3)
    return _save(fig, ax, out, title)


def _save(fig, ax, out: Path, title: str) -> Path:
    """SR axis, legend and title; write the PNG."""
    ax.set_ylabel("SR (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _job_label(overrides: str) -> str:
    keep = [o for o in overrides.split()
            if not o.startswith(("trainer.", "eval.", "hydra.", "seed=", "training.", "checkpoint."))]
    return " ".join(o.removeprefix("experiment=") for o in keep) or "default"


def tool_calls_on_no_tool_items(scores_file: Path) -> float | None:
    """Percent of the items that need no tool (gt tool :data:`NO_TOOL`, or ``none`` as the data pipeline writes it)
    which the model answered with a tool call."""
    if not scores_file.is_file():
        return None
    rows = [json.loads(line) for line in scores_file.read_text().splitlines() if line.strip()]
    no_tool = [r for r in rows if r.get("gt_tool") in ("none", NO_TOOL)]
    if not no_tool:
        return None
    return round(100 * sum(r.get("pred_tool") not in (None, "", NO_TOOL) for r in no_tool) / len(no_tool), 1)


def _samples_trained(report_dir: Path) -> int | None:
    """Samples the training job that wrote ``report_dir`` (``<job>/eval``) had trained on, if it saved them."""
    from gpt4tools.training.export import adapter_progress

    for folder in (report_dir, report_dir.parent):
        progress = adapter_progress(folder / "adapter")
        if progress is not None:
            return int(progress["samples_seen"])
    return None


def ablation_table(sweep_dir: str | Path, scorer: str = "compat") -> pd.DataFrame:
    """One row per training job: samples trained, SR and SR_t per eval set, and how often items that need no tool
    got a tool call (``no-tool called``: does a model trained without negatives answer Yes to everything?)."""
    sweep_dir = Path(sweep_dir)
    df = collect(sweep_dir, scorer)
    df = df[df["label"] != "zero_shot"]
    called = [tool_calls_on_no_tool_items(sweep_dir / job / "scores" / f"{name}.{scorer}.jsonl")
              for job, name in zip(df["job"], df["set"])]
    labels = [_job_label(o) for o in df["overrides"]]
    samples = {label: _samples_trained(sweep_dir / job) for label, job in zip(labels, df["job"])}
    df = df.assign(job=labels, no_tool_called=called)
    wide = df.pivot_table(index="job", columns="set", values=["SR", "SR_t", "no_tool_called"])
    wide.columns = [f"{metric.replace('_', '-') if metric == 'no_tool_called' else metric} {name}"
                    for metric, name in wide.columns]
    wide = wide.reset_index()
    if any(n is not None for n in samples.values()):
        wide.insert(1, "samples", [samples[job] for job in wide["job"]])
    return wide


def plot_ablation_bars(table: pd.DataFrame, out: str | Path, title: str = "Ablations (compat SR)") -> Path:
    """Grouped bars: SR on each eval set per job."""
    out = Path(out)
    sr_cols = [c for c in table.columns if c.startswith("SR ")]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(table)), 4))
    width = 0.8 / max(len(sr_cols), 1)
    for k, col in enumerate(sr_cols):
        xs = [i + (k - (len(sr_cols) - 1) / 2) * width for i in range(len(table))]
        bars = ax.bar(xs, table[col], width, label=col.removeprefix("SR "))
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(table)), table["job"], rotation=30, ha="right", fontsize=8)
    return _save(fig, ax, out, title)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["curve", "ablation"])
    parser.add_argument("sweep_dir")
    parser.add_argument("--out", required=True, help="the PNG to write (a .md table is written next to it)")
    parser.add_argument("--scorer", default="compat")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.kind == "curve":
        table = samples_table(args.sweep_dir, args.scorer)
        png = plot_samples_curve(table, args.out, f"{args.scorer} SR vs training samples")
    else:
        table = ablation_table(args.sweep_dir, args.scorer)
        png = plot_ablation_bars(table, args.out, f"Ablations ({args.scorer} SR)")
    md = png.with_suffix(".md")
    md.write_text(markdown_table(table.round(1)))
    log.info("%s\nwrote %s and %s", md.read_text(), png, md)


if __name__ == "__main__":
    main()
