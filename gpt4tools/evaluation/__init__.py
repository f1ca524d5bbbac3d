"""Tool-use evaluation: generation over eval sets, the ``compat`` and ``strict`` scorers, reports, sweeps.

Public entry points (imported lazily so scoring needs no torch):

* :func:`evaluate` - the one evaluation path (``evaluate.py``, ``train.py``'s closing evaluation, benchmarks):
  a source (:class:`LocalModel`, :class:`LoadedModel`, :class:`Endpoint`, :class:`PredictionsFile`), eval files,
  an output folder and :class:`EvalSettings`;
* :func:`score_compat` / :func:`score_strict` - score one prediction against one gt output.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "evaluate": "gpt4tools.evaluation.pipeline",
    "score_and_report": "gpt4tools.evaluation.pipeline",
    "EvalSettings": "gpt4tools.evaluation.settings",
    "LocalModel": "gpt4tools.evaluation.sources",
    "LoadedModel": "gpt4tools.evaluation.sources",
    "Endpoint": "gpt4tools.evaluation.sources",
    "PredictionsFile": "gpt4tools.evaluation.sources",
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
