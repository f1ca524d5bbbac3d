"""Programmatic evaluation: score a loaded model or an existing predictions file.

``evaluate_model`` is what training calls at its end; ``evaluate.py`` goes through the same functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpt4tools.evaluation.generate import generate_predictions
from gpt4tools.evaluation.items import EvalItem, load_eval_set, select_by_tools
from gpt4tools.evaluation.predictions import PredictionWriter, load_predictions, prediction_file
from gpt4tools.evaluation.report import build_report, write_report
from gpt4tools.evaluation.scoring import score_items

log = logging.getLogger(__name__)

GEN_DEFAULTS = {"max_new_tokens": 128, "batch_size": 16, "do_sample": False, "temperature": 1.0, "stop": None,
                "engine": "auto", "constrain_actions": False}
# Settings that change how predictions are computed, not what they are (left out of the predictions' meta).
EXECUTION_KEYS = ("batch_size", "engine")


def load_sets(eval_sets: Mapping[str, str | Path], limit: int | None = None, tools: Sequence | None = None,
              keep_no_tool: bool = True) -> dict[str, list[EvalItem]]:
    """Load eval files by set name, keep the items of the chosen tools, then the first ``limit`` of each."""
    out = {}
    for name, path in eval_sets.items():
        items = select_by_tools(load_eval_set(path, name), tools, keep_no_tool)
        out[name] = items[:limit] if limit else items
        log.info("Eval set %s: %d items from %s", name, len(out[name]), path)
    return out


def score_and_report(items_by_set: Mapping[str, Sequence[EvalItem]], predictions: Mapping[str, Mapping[str, str]],
                     out_dir: str | Path, scorers: Sequence[str] = ("compat", "strict"), label: str = "model",
                     meta: Mapping[str, Any] | None = None, args_threshold: float = 0.5,
                     plots: bool = True) -> tuple[dict, dict]:
    """Score every set with every scorer and write the report files; returns ``(report, paths)``."""
    scores = {name: {sc: score_items(items, predictions.get(name, {}), sc, args_threshold) for sc in scorers}
              for name, items in items_by_set.items()}
    kinds = {name: {item.id: item.step_kind for item in items} for name, items in items_by_set.items()}
    report = build_report(scores, meta, label, step_kinds=kinds)
    paths = write_report(report, scores, out_dir, plots=plots)
    return report, paths


def make_generator(model: Any, tokenizer: Any, template: Any, gen_cfg: Mapping[str, Any] | None = None):
    """The shared :class:`gpt4tools.inference.Generator` from generation settings."""
    from gpt4tools.inference import Generator

    g = {**GEN_DEFAULTS, **dict(gen_cfg or {})}
    stop = list(g["stop"]) if g.get("stop") else None
    return Generator(model, tokenizer, template, max_new_tokens=int(g["max_new_tokens"]),
                     batch_size=int(g["batch_size"]), stop=stop, do_sample=bool(g["do_sample"]),
                     temperature=float(g["temperature"]), engine=str(g["engine"]),
                     constrain_actions=bool(g["constrain_actions"]))


def evaluate_generator(generator: Any, eval_sets: Mapping[str, str | Path], out_dir: str | Path,
                       scorers: Sequence[str] = ("compat", "strict"), limit: int | None = None,
                       label: str = "model", meta: Mapping[str, Any] | None = None, resume: bool = True,
                       tools: Sequence | None = None, plots: bool = True) -> dict:
    """Generate (resuming any earlier predictions in ``out_dir``), score and report; returns the report."""
    items_by_set = load_sets(eval_sets, limit, tools)
    meta = dict(meta or {})
    writer = PredictionWriter(prediction_file(out_dir), meta, resume=resume)
    for items in items_by_set.values():
        generate_predictions(generator, items, writer)
    preds = load_predictions(writer.path, items_by_set, "ours")
    report, _ = score_and_report(items_by_set, preds, out_dir, scorers, label, meta, plots=plots)
    return report


def evaluate_model(model: Any, tokenizer: Any, template: Any, eval_sets: Mapping[str, str | Path],
                   out_dir: str | Path, gen_cfg: Mapping[str, Any] | None = None,
                   scorers: Sequence[str] = ("compat", "strict"), limit: int | None = None,
                   label: str = "model", resume: bool = True, tools: Sequence | None = None,
                   plots: bool = True) -> dict:
    """Evaluate a loaded model on eval files and write predictions and reports to ``out_dir``.

    Args:
        model, tokenizer: a causal LM (with or without a LoRA adapter) and its tokenizer.
        template: a chat template name or :class:`gpt4tools.prompt.ChatTemplate`.
        eval_sets: set name -> eval file (``{"val_seen": ..., "test_unseen": ...}``).
        out_dir: where ``predictions.jsonl``, ``report.json``, ``report.md``, ``scores/`` and ``plots/`` go;
            predictions already there (same settings) are kept and only the rest is generated.
        gen_cfg: ``max_new_tokens``, ``batch_size``, ``do_sample``, ``temperature``, ``stop``.
        scorers: any of ``compat``, ``strict``.
        limit: score only the first ``limit`` items of each set.
        label: the model's name in reports (``tuned``, ``zero_shot``...).
        tools: restrict to items of these :class:`~gpt4tools.catalog.ToolSpec` (plus no-tool items).

    Returns:
        The report dict: ``report["sets"][set][scorer]["overall"]["SR"]`` etc. (fractions in [0, 1]).
    """
    generator = make_generator(model, tokenizer, template, gen_cfg)
    meta = {"label": label, "template": generator.template.name,
            "generation": {k: v for k, v in {**GEN_DEFAULTS, **dict(gen_cfg or {})}.items() if k not in EXECUTION_KEYS}}
    return evaluate_generator(generator, eval_sets, out_dir, scorers, limit, label, meta, resume, tools, plots)


def evaluate_tuned_vs_zero_shot(model: Any, tokenizer: Any, template: Any, eval_sets: Mapping[str, str | Path],
                                out_dir: str | Path, **kwargs: Any) -> dict:
    """Evaluate a peft-wrapped model as tuned and, with its adapter disabled, as zero-shot; write a
    side-by-side ``comparison.md``. Returns ``{"tuned": report, "zero_shot": report, "comparison": md}``."""
    from gpt4tools.evaluation.report import side_by_side

    out = Path(out_dir)
    tuned = evaluate_model(model, tokenizer, template, eval_sets, out / "tuned", label="tuned", **kwargs)
    if not hasattr(model, "disable_adapter"):
        raise TypeError("zero-shot comparison needs a peft model (model.disable_adapter())")
    with model.disable_adapter():
        zero = evaluate_model(model, tokenizer, template, eval_sets, out / "zero_shot", label="zero_shot", **kwargs)
    text = side_by_side({"zero_shot": zero, "tuned": tuned}, out)
    return {"tuned": tuned, "zero_shot": zero, "comparison": text}


def evaluate_predictions(predictions: str | Path, eval_sets: Mapping[str, str | Path], out_dir: str | Path,
                         scorers: Sequence[str] = ("compat", "strict"), fmt: str = "auto",
                         limit: int | None = None, label: str = "model", tools: Sequence | None = None,
                         plots: bool = True) -> dict:
    """Score an existing predictions file or folder (ours, sharded, or the original's format)."""
    items_by_set = load_sets(eval_sets, limit, tools)
    preds = load_predictions(predictions, items_by_set, fmt)
    report, _ = score_and_report(items_by_set, preds, out_dir, scorers, label,
                                 {"predictions": str(predictions), "format": fmt}, plots=plots)
    return report
