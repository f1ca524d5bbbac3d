"""Evaluation reports: JSON, a Markdown table, PNG plots, W&B tables/images, side-by-side comparisons, the printed table.

Every report gives, per eval set and scorer, the paper's overall metrics and the same metrics on the items that
need a tool (gt's first thought ``Yes``) and on those that need none, each with its item count ``n``:
``report["sets"][set][scorer]`` holds ``overall``, ``tool_items`` and ``no_tool_items`` (plus ``per_tool``,
``per_step`` and ``confusion``).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpt4tools.evaluation.items import STEP_KINDS, EvalItem
from gpt4tools.evaluation.scores import (
    METRICS,
    NEED_GROUPS,
    ItemScore,
    aggregate,
    by_need,
    confusion,
    fmt_pct,
    per_group,
    per_tool,
)

log = logging.getLogger(__name__)


def build_report(scores: Mapping[str, Mapping[str, Sequence[ItemScore]]],
                 items_by_set: Mapping[str, Sequence[EvalItem]], meta: Mapping[str, Any] | None = None,
                 label: str = "model") -> dict:
    """``{"label", "meta", "sets": {set: {scorer: {"overall", "tool_items", "no_tool_items", "per_tool", "per_step",
    "confusion"}}}}`` from item scores (metrics are fractions in [0, 1], each group with its ``n``)."""
    sets = {}
    for name, by_scorer in scores.items():
        items = items_by_set.get(name, ())
        kinds = {it.id: it.step_kind for it in items}
        needs = {it.id: it.needs_tool for it in items}
        sets[name] = {scorer: {"overall": aggregate(scored), **by_need(scored, needs), "per_tool": per_tool(scored),
                               "per_step": per_group(scored, kinds, STEP_KINDS), "confusion": confusion(scored)}
                      for scorer, scored in by_scorer.items()}
    return {"label": label, "meta": dict(meta or {}), "sets": sets}


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


NEED_LABELS = {"tool_items": "tool", "no_tool_items": "no-tool"}
SPLIT_COLUMNS: tuple[str, ...] = ("tool SR (n)", "no-tool SR (n)")
"""The compact tables' columns for the items that need a tool and those that need none: SR in percent (n)."""


def _sr_n(agg: Mapping[str, Any] | None) -> str:
    return "-" if not agg else f"{fmt_pct(agg['SR'])} ({agg['n']})"


def overall_rows(report: Mapping) -> list[dict]:
    """One row per (set, scorer): the overall metrics in percent, then SR (n) on tool and no-tool items."""
    rows = []
    for name, by_scorer in report["sets"].items():
        for scorer, res in by_scorer.items():
            o = res["overall"]
            rows.append({"set": name, "scorer": scorer, "n": o["n"], **{m: fmt_pct(o[m]) for m in METRICS},
                         **{col: _sr_n(res.get(group)) for col, group in zip(SPLIT_COLUMNS, NEED_GROUPS)}})
    return rows


def need_rows(report: Mapping) -> list[dict]:
    """One row per (set, scorer, tool / no-tool items): every metric in percent and the items' count."""
    return [{"set": name, "scorer": scorer, "items": NEED_LABELS[group], "n": res[group]["n"],
             **{m: fmt_pct(res[group][m]) for m in METRICS}}
            for name, by_scorer in report["sets"].items() for scorer, res in by_scorer.items()
            for group in NEED_GROUPS if group in res]


def md_table(rows: Sequence[Mapping], columns: Sequence[str]) -> str:
    """A Markdown table of ``rows`` (mappings) in ``columns`` order."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def to_markdown(report: Mapping) -> str:
    """The report as Markdown: an overall table, the tool / no-tool items, per-step tables, then per-tool tables for
    each set and scorer."""
    cols = ["set", "scorer", "n", *METRICS, *SPLIT_COLUMNS]
    parts = [f"# Evaluation: {report['label']}", "", "Metrics in percent.", "", md_table(overall_rows(report), cols)]
    needs = need_rows(report)
    if needs:
        parts += ["", "## Items that need a tool and items that need none", "",
                  "An item needs a tool when its gt output's first thought is `Yes`.", "",
                  md_table(needs, ["set", "scorer", "items", "n", *METRICS])]
    steps = [{"set": name, "scorer": scorer, "step": kind, "n": agg["n"], **{m: fmt_pct(agg[m]) for m in METRICS}}
             for name, by_scorer in report["sets"].items() for scorer, res in by_scorer.items()
             for kind, agg in res.get("per_step", {}).items()]
    if steps:
        parts += ["", "## Per step: which decision the item tests", "",
                  md_table(steps, ["set", "scorer", "step", "n", *METRICS])]
    for name, by_scorer in report["sets"].items():
        for scorer, res in by_scorer.items():
            rows = [{"tool": tool, "n": agg["n"], **{m: fmt_pct(agg[m]) for m in METRICS}}
                    for tool, agg in res["per_tool"].items()]
            parts += ["", f"## {name} / {scorer}: per tool", "", md_table(rows, ["tool", "n", *METRICS])]
    return "\n".join(parts) + "\n"


def plot_per_tool(per_tool_res: Mapping[str, Mapping], title: str, path: Path) -> Path:
    """Horizontal bars of SR per gt tool."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tools = list(per_tool_res)
    values = [100 * (per_tool_res[t]["SR"] if not math.isnan(per_tool_res[t]["SR"]) else 0.0) for t in tools]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(tools) + 1.2))
    ax.barh(tools, values, color="tab:blue")
    ax.set_xlim(0, 100)
    ax.set_xlabel("SR (%)")
    ax.set_title(title)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(conf: Mapping[str, Mapping[str, int]], title: str, path: Path) -> Path:
    """Heat map of gt tool (rows) vs predicted tool (columns), counts annotated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = sorted(conf)
    cols = sorted({p for r in conf.values() for p in r} | set(rows))
    mat = np.array([[conf[r].get(c, 0) for c in cols] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(0.45 * len(cols) + 4, 0.4 * len(rows) + 3))
    ax.imshow(mat, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=70, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if mat[i, j]:
                ax.text(j, i, int(mat[i, j]), ha="center", va="center", fontsize=6)
    ax.set_xlabel("predicted tool")
    ax.set_ylabel("gt tool")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(report: Mapping, scores: Mapping[str, Mapping[str, Sequence[ItemScore]]], out_dir: str | Path,
                 plots: bool = True) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, per-item ``scores/<set>.<scorer>.jsonl`` and plots."""
    out = Path(out_dir)
    (out / "scores").mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    paths["json"].write_text(json.dumps(_nan_to_none(report), indent=2))
    paths["markdown"].write_text(to_markdown(report))
    for name, by_scorer in scores.items():
        for scorer, items in by_scorer.items():
            with open(out / "scores" / f"{name}.{scorer}.jsonl", "w") as f:
                for s in items:
                    f.write(json.dumps(_nan_to_none(s.as_dict())) + "\n")
    if plots:
        (out / "plots").mkdir(exist_ok=True)
        for name, by_scorer in report["sets"].items():
            for scorer, res in by_scorer.items():
                if not res["per_tool"]:
                    continue
                key = f"{name}.{scorer}"
                paths[f"{key}.per_tool"] = plot_per_tool(res["per_tool"], f"{report['label']}: {key} SR per tool",
                                                         out / "plots" / f"{key}.per_tool_sr.png")
                paths[f"{key}.confusion"] = plot_confusion(res["confusion"], f"{report['label']}: {key} tool confusion",
                                                           out / "plots" / f"{key}.confusion.png")
    log.info("Report written to %s", out)
    return paths


def side_by_side(reports: Mapping[str, Mapping], out_dir: str | Path | None = None) -> str:
    """A Markdown table comparing several reports (e.g. zero-shot vs tuned) set by set; also written to
    ``comparison.md`` / ``comparison.json`` in ``out_dir`` when given."""
    rows = []
    for label, rep in reports.items():
        for r in overall_rows(rep):
            rows.append({"model": label, **r})
    rows.sort(key=lambda r: (r["set"], r["scorer"], r["model"]))
    text = md_table(rows, ["set", "scorer", "model", "n", *METRICS, *SPLIT_COLUMNS]) + "\n"
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(text)
        (out / "comparison.json").write_text(json.dumps(rows, indent=2))
    return text


def log_to_wandb(report: Mapping, paths: Mapping[str, Path], run: Any) -> None:
    """Log metrics (``eval/<set>/<scorer>/<metric>``; ``eval/<set>/<scorer>/<tool_items|no_tool_items>/<metric>``
    and ``.../n`` for the items that need a tool and those that need none), tables and plot images to a W&B run."""
    import wandb

    metrics = {}
    for name, by_scorer in report["sets"].items():
        for scorer, res in by_scorer.items():
            for m in METRICS:
                v = res["overall"][m]
                if not math.isnan(v):
                    metrics[f"eval/{name}/{scorer}/{m}"] = v
            for group in NEED_GROUPS:
                agg = res.get(group) or {"n": 0}
                metrics[f"eval/{name}/{scorer}/{group}/n"] = agg["n"]
                metrics.update({f"eval/{name}/{scorer}/{group}/{m}": agg[m] for m in METRICS
                                if agg["n"] and not math.isnan(agg[m])})
            table = wandb.Table(columns=["tool", "n", *METRICS])
            for tool, agg in res["per_tool"].items():
                table.add_data(tool, agg["n"], *[agg[m] for m in METRICS])
            metrics[f"eval/{name}/{scorer}/per_tool"] = table
    columns = ["set", "scorer", "n", *METRICS, *SPLIT_COLUMNS]
    overall = wandb.Table(columns=columns)
    for r in overall_rows(report):
        overall.add_data(*[r[c] for c in columns])
    metrics["eval/overall"] = overall
    for key, path in paths.items():
        if str(path).endswith(".png"):
            metrics[f"eval/plots/{key}"] = wandb.Image(str(path))
    run.log(metrics)


def print_summary(reports: Mapping[str, Mapping]) -> None:
    """The overall table of each report (with SR on tool and no-tool items), printed with rich at the end of a run."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title="GPT4Tools tool-use evaluation (%)", box=box.SIMPLE_HEAD)
    columns = ["set", "scorer", "n", *METRICS, *SPLIT_COLUMNS]
    for col in ("model", *columns):
        table.add_column(col)
    for label, rep in reports.items():
        for r in overall_rows(rep):
            table.add_row(label, *[str(r[c]) for c in columns])
    # a terminal gives its own width; a pipe or a log file gets room for every column (rich assumes 80)
    Console(width=None if sys.stdout.isatty() else 160).print(table)
