"""``evaluate.py``: the composed ``conf/evaluate.yaml`` -> :func:`gpt4tools.evaluation.pipeline.evaluate`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationResolutionError

from gpt4tools.evaluation.pipeline import evaluate
from gpt4tools.evaluation.sets import resolve_eval_sets
from gpt4tools.evaluation.settings import EvalSettings
from gpt4tools.evaluation.sources import Endpoint, LocalModel, PredictionsFile, Source
from gpt4tools.utils.files import require_file
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


def source_from_config(cfg: DictConfig) -> Source:
    """What the config scores: ``predictions``, else ``endpoint.model``, else the local model (``model``, left
    out: the adapter's own base) with ``adapter`` or ``merged``. Fills ``cfg.model`` with the base model's node."""
    if cfg.get("predictions"):
        if not Path(str(cfg.predictions)).is_dir():  # a folder of shards, or one file (not a device, say)
            require_file(cfg.predictions, "predictions", "give a predictions file or a folder of them")
        return PredictionsFile(str(cfg.predictions), str(cfg.predictions_format))
    if cfg.endpoint.get("model"):
        return Endpoint(**OmegaConf.to_container(cfg.endpoint, resolve=True))
    from gpt4tools.models.choice import base_model_for

    adapter = str(cfg.adapter) if cfg.get("adapter") else None
    model = base_model_for(adapter, cfg.get("model"))
    with open_dict(cfg):
        cfg.model = model  # what was loaded, for the W&B run's config and ${model.name}
    return LocalModel(model, adapter, str(cfg.merged) if cfg.get("merged") else None)


def _tools(cfg: DictConfig):
    from gpt4tools.catalog import select_tools

    t = cfg.get("tools")
    if t is None:
        return None
    split = t.split if isinstance(t.split, str) else list(t.split)
    return select_tools(split, t.get("include"), t.get("exclude"))


def _or_none(value: Callable[[], Any]) -> Any:
    """``value()``, or None where it needs an interpolation that does not resolve (an endpoint or a predictions file
    has no ``model``, which the W&B logger's default name and tags use)."""
    try:
        return value()
    except InterpolationResolutionError:
        return None


def wandb_init(cfg: DictConfig) -> dict[str, Any] | None:
    """``wandb.init`` arguments from a ``logger.wandb`` node (None without one)."""
    node = (cfg.get("logger") or {}).get("wandb") if cfg.get("logger") else None
    if not node or not str(node.get("_target_", "")).endswith("WandbLogger"):
        return None
    config = _or_none(lambda: OmegaConf.to_container(cfg, resolve=True)) or OmegaConf.to_container(cfg)
    init = {"project": node.get("project", "gpt4tools"), "dir": str(node.get("save_dir") or cfg.work_dir),
            "tags": _or_none(lambda: [str(t) for t in node.get("tags") or []]) or [], "config": config}
    if name := _or_none(lambda: node.get("name")):
        init["name"] = str(name)
    return init


def run(cfg: DictConfig) -> dict | None:
    """Evaluate as configured (see ``conf/evaluate.yaml``); returns the report (None for a shard job)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = EvalSettings.from_config(cfg)
    eval_sets = resolve_eval_sets(cfg.eval_sets, cfg)
    source = source_from_config(cfg)
    return evaluate(source, eval_sets, Path(str(cfg.work_dir)), settings, tools=_tools(cfg),
                    shard=(int(cfg.shard.index), int(cfg.shard.count)), wandb_init=wandb_init(cfg))
