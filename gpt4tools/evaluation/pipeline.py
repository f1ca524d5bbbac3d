"""The one evaluation path: eval sets -> predictions (generated, resumed, or read) -> both scorers -> reports.

``evaluate.py`` (:mod:`gpt4tools.evaluation.run`), ``train.py``'s closing evaluation and the benchmarks all call
:func:`evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpt4tools.catalog import ToolSpec
from gpt4tools.evaluation.generate import generate_predictions
from gpt4tools.evaluation.items import EvalItem
from gpt4tools.evaluation.predictions import PredictionWriter, load_predictions, prediction_file, shard_items
from gpt4tools.evaluation.report import build_report, log_to_wandb, print_summary, side_by_side, write_report
from gpt4tools.evaluation.scoring import score_items
from gpt4tools.evaluation.sets import load_sets, zero_shot_subset
from gpt4tools.evaluation.settings import EvalSettings
from gpt4tools.evaluation.sources import Opened, PredictionsFile, Source, open_source, source_label
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)

ZERO_SHOT = "zero_shot"
"""The zero-shot baseline's label and sub-folder."""


def score_and_report(items_by_set: Mapping[str, Sequence[EvalItem]], predictions: Mapping[str, Mapping[str, str]],
                     out_dir: str | Path, scorers: Sequence[str] = ("compat", "strict"), label: str = "model",
                     meta: Mapping[str, Any] | None = None, args_threshold: float = 0.5,
                     plots: bool = True) -> tuple[dict, dict]:
    """Score every set with every scorer and write the report files; returns ``(report, paths)``."""
    scores = {name: {sc: score_items(items, predictions.get(name, {}), sc, args_threshold) for sc in scorers}
              for name, items in items_by_set.items()}
    report = build_report(scores, items_by_set, meta, label)
    return report, write_report(report, scores, out_dir, plots=plots)


def _predict(opened_generator: Any, meta: Mapping[str, Any], items_by_set: Mapping[str, Sequence[EvalItem]],
             out: Path, resume: bool, shard: tuple[int, int]) -> Path:
    """Generate this shard's missing predictions into ``out``; returns the predictions file."""
    index, count = shard
    writer = PredictionWriter(prediction_file(out, index, count), {**meta, "shard": [index, count]}, resume=resume)
    for items in items_by_set.values():
        generate_predictions(opened_generator, shard_items(items, index, count), writer)
    return writer.path


def _generate_and_score(generator: Any, meta: Mapping[str, Any], items_by_set: Mapping[str, Sequence[EvalItem]],
                        out: Path, settings: EvalSettings, label: str,
                        shard: tuple[int, int] = (0, 1)) -> tuple[dict, dict] | None:
    path = _predict(generator, meta, items_by_set, out, settings.resume, shard)
    if shard[1] > 1:
        log.info("Shard %d of %d done: %s. When every shard is done, score them all with "
                 "python evaluate.py predictions=%s", shard[0], shard[1], path, out)
        return None
    return score_and_report(items_by_set, load_predictions(path, items_by_set, "ours"), out, settings.scorers,
                            label, meta, settings.args_threshold, settings.plots)


def _zero_shot(opened: Opened, items_by_set: Mapping[str, Sequence[EvalItem]], out: Path,
               settings: EvalSettings) -> dict:
    with opened.without_adapter() as (generator, meta):
        report, _ = _generate_and_score(generator, meta, items_by_set, out / ZERO_SHOT, settings, ZERO_SHOT)
    return report


def evaluate(source: Source, eval_sets: Mapping[str, str | Path], out_dir: str | Path,
             settings: EvalSettings | None = None, *, tools: Sequence[ToolSpec] | None = None,
             shard: tuple[int, int] = (0, 1), wandb_init: Mapping[str, Any] | None = None) -> dict | None:
    """Evaluate ``source`` on eval files and write predictions and reports to ``out_dir``.

    Args:
        source: what is scored - :class:`~gpt4tools.evaluation.sources.LocalModel` (base + adapter or merged
            folder, loaded here; an adapter names its base), ``LoadedModel``, ``Endpoint`` or ``PredictionsFile``.
        eval_sets: set name -> eval file (``{"val_seen": ..., "test_unseen": ...}``).
        out_dir: where ``predictions.jsonl`` (kept and resumed when the settings match), ``report.json``,
            ``report.md``, ``scores/``, ``plots/`` and, with ``settings.zero_shot``, ``zero_shot/`` and
            ``comparison.md`` go.
        settings: generation, scorers, limits, zero-shot baseline... (default: ``conf/evaluation/default.yaml``).
        tools: score only the items of these tools (plus no-tool items with ``settings.keep_no_tool``).
        shard: ``(index, count)``: generate every ``count``-th item only and return None (merge and score the
            shards with a :class:`PredictionsFile` of the folder).
        wandb_init: ``wandb.init`` keyword arguments; when given, the report is logged to that W&B run.

    Returns:
        The report: ``report["sets"][set][scorer]`` holds ``overall``, ``tool_items`` and ``no_tool_items``
        (fractions in [0, 1] with ``n``), ``per_tool``, ``per_step`` and ``confusion``; None for a shard.
    """
    settings = settings if settings is not None else EvalSettings.from_config()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    label = settings.label or source_label(source)
    items_by_set = load_sets(eval_sets, settings.limit, tools, settings.keep_no_tool)
    if isinstance(source, PredictionsFile):
        if settings.zero_shot:
            log.info("zero_shot: %s holds predictions only; no zero-shot baseline", source.path)
        predictions = load_predictions(source.path, items_by_set, source.format)
        report, paths = score_and_report(items_by_set, predictions, out, settings.scorers, label,
                                         {"predictions": str(source.path)}, settings.args_threshold, settings.plots)
        reports = {label: report}
    else:
        zero_shot_items = zero_shot_subset(items_by_set, settings.zero_shot_limit) if settings.zero_shot else None
        opened = open_source(source, settings)
        result = _generate_and_score(opened.generator, opened.meta, items_by_set, out, settings, label, shard)
        if result is None:
            return None
        report, paths = result
        reports = {label: report}
        if zero_shot_items is not None and opened.peft_model is None:
            log.info("zero_shot: %s has no adapter to disable; no zero-shot baseline", label)
        elif zero_shot_items is not None:
            reports[ZERO_SHOT] = _zero_shot(opened, zero_shot_items, out, settings)
            side_by_side(reports, out)
    if wandb_init is not None:
        _log_to_wandb(report, paths, {"name": f"evaluate-{label}", **wandb_init})
    print_summary(reports)
    return report


def _log_to_wandb(report: dict, paths: Mapping[str, Path], init: Mapping[str, Any]) -> None:
    import wandb

    run = wandb.init(**{"job_type": "evaluate", "reinit": "finish_previous", **init})
    log_to_wandb(report, paths, run)
    run.finish()
