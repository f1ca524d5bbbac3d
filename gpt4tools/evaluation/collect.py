"""Merge the reports of a multirun sweep into one comparison table (Markdown + CSV).

    python -m gpt4tools.evaluation.collect outputs/evaluate/multirun/<date>_<time> [-o DIR] [--scorer compat]

Every folder under the sweep folder holding a ``report.json`` becomes rows (one per eval set and
scorer) labelled by its job's command-line overrides (``.hydra/overrides.yaml``). Works on evaluation
sweeps and on training sweeps (``python train.py -m ...``, whose jobs evaluate into ``<job>/eval``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from gpt4tools.evaluation.report import md_table
from gpt4tools.evaluation.scores import METRICS

log = logging.getLogger(__name__)


def _overrides(report_dir: Path, sweep_dir: Path) -> str:
    """The command-line overrides of the job that wrote a report: the nearest ``.hydra/overrides.yaml`` at or
    above the report's folder (a training job keeps its evaluation in ``<job>/eval``)."""
    from omegaconf import OmegaConf

    for folder in (report_dir, *report_dir.parents):
        path = folder / ".hydra" / "overrides.yaml"
        if path.is_file():
            return " ".join(str(o) for o in OmegaConf.load(path))
        if folder == sweep_dir:
            break
    return report_dir.name


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def _need_columns(res: dict) -> dict:
    """SR and n on the items that need a tool and on those that need none (None for reports without them)."""
    out = {}
    for group, name in (("tool_items", "tool"), ("no_tool_items", "no-tool")):
        agg = res.get(group) or {}
        out[f"SR {name}"], out[f"n {name}"] = _pct(agg.get("SR")), agg.get("n")
    return out


def collect(sweep_dir: str | Path, scorer: str | None = None) -> pd.DataFrame:
    """One row per (job, eval set, scorer) with metrics in percent (then SR and n on tool and no-tool items), sorted
    by set, scorer and SR."""
    sweep_dir = Path(sweep_dir)
    reports = sorted(sweep_dir.rglob("report.json"))
    if not reports:
        raise FileNotFoundError(f"{sweep_dir}: no report.json in any job folder (did the sweep finish?)")
    rows = []
    for path in reports:
        job = path.parent
        rep = json.loads(path.read_text())
        for set_name, by_scorer in rep["sets"].items():
            for sc, res in by_scorer.items():
                if scorer and sc != scorer:
                    continue
                o = res["overall"]
                rows.append({"job": job.relative_to(sweep_dir).as_posix(), "overrides": _overrides(job, sweep_dir),
                             "label": rep.get("label", ""), "set": set_name, "scorer": sc, "n": o["n"],
                             **{m: _pct(o[m]) for m in METRICS}, **_need_columns(res)})
    df = pd.DataFrame(rows)
    return df.sort_values(["set", "scorer", "SR"], ascending=[True, True, False], kind="stable").reset_index(drop=True)


def markdown_table(df: pd.DataFrame) -> str:
    """``df`` as a Markdown table (missing values as ``-``)."""
    rows = df.astype(object).where(df.notna(), "-").to_dict("records")
    return md_table(rows, [str(c) for c in df.columns]) + "\n"


def write_comparison(df: pd.DataFrame, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``comparison.csv`` and ``comparison.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "comparison.csv", out / "comparison.md"
    df.to_csv(csv_path, index=False)
    md_path.write_text(markdown_table(df))
    return md_path, csv_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", help="a multirun folder, e.g. outputs/evaluate/multirun/<date>_<time>")
    parser.add_argument("-o", "--out", default=None, help="output folder (default: the sweep folder)")
    parser.add_argument("--scorer", default=None, help="keep one scorer (compat or strict)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    df = collect(args.sweep_dir, args.scorer)
    md, csv = write_comparison(df, args.out or args.sweep_dir)
    log.info("%s\nwrote %s and %s", md.read_text(), md, csv)


if __name__ == "__main__":
    main()
