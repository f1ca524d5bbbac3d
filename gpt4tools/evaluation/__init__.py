"""Tool-use evaluation: generation over eval sets, the ``compat`` and ``strict`` scorers, reports, sweeps.

Public entry points (imported lazily so scoring needs no torch):

* :func:`evaluate_model` - evaluate a loaded model (what training calls at its end);
* :func:`evaluate_tuned_vs_zero_shot` - the same with and without the LoRA adapter, side by side;
* :func:`evaluate_predictions` - score an existing predictions file (ours or the original's format);
* :func:`score_compat` / :func:`score_strict` - score one prediction against one gt output.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "evaluate_model": "gpt4tools.evaluation.api",
    "evaluate_tuned_vs_zero_shot": "gpt4tools.evaluation.api",
    "evaluate_predictions": "gpt4tools.evaluation.api",
    "evaluate_generator": "gpt4tools.evaluation.api",
    "score_compat": "gpt4tools.evaluation.compat",
    "score_strict": "gpt4tools.evaluation.strict",
    "side_by_side": "gpt4tools.evaluation.report",
    "load_eval_set": "gpt4tools.evaluation.items",
    "EvalDataError": "gpt4tools.evaluation.items",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gpt4tools.evaluation' has no attribute {name!r}")
