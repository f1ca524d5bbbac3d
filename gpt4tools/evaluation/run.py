"""``evaluate.py``: generate (model + adapter/merged folder, or an endpoint), score, report."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gpt4tools.evaluation.api import EXECUTION_KEYS, load_sets, make_generator, score_and_report
from gpt4tools.evaluation.generate import generate_predictions
from gpt4tools.evaluation.items import EvalDataError
from gpt4tools.evaluation.predictions import PredictionWriter, load_predictions, prediction_file, shard_items
from gpt4tools.evaluation.report import log_to_wandb, overall_rows, side_by_side
from gpt4tools.evaluation.scores import METRICS
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)

SPLITS = ("train", "val_seen", "test_unseen")


def resolve_eval_sets(cfg: DictConfig) -> dict[str, Path]:
    """Eval set names/paths -> files. Dataset split names use ``data.<split>_file``; the data pipeline
    (``gpt4tools.data.ensure_dataset``) builds the dataset when those files do not exist yet."""
    entries = cfg.eval_sets
    entries = [entries] if isinstance(entries, str) else list(entries)
    out: dict[str, Path] = {}
    dataset: dict[str, Path] | None = None
    for entry in entries:
        entry = str(entry)
        if entry in SPLITS:
            path = Path(str(cfg.data.get(f"{entry}_file", "")))
            if not path.is_file():
                if dataset is None:
                    try:
                        from gpt4tools.data import ensure_dataset
                    except ImportError as err:
                        raise EvalDataError(f"eval set {entry}: {path} does not exist and the data pipeline is "
                                            f"not available to build it ({err}); pass a file path") from None
                    dataset = {k: Path(v) for k, v in ensure_dataset(cfg).items()}
                path = dataset[entry]
            out[entry] = path
        else:
            path = Path(entry)
            if not path.is_file():
                raise EvalDataError(f"eval set {entry!r}: neither a dataset split ({', '.join(SPLITS)}) nor a file")
            out[path.stem] = path
    return out


def zero_shot_subset(items_by_set: Mapping[str, list], limit: int | None) -> dict[str, list]:
    """The items the zero-shot baseline scores: the first ``limit`` of each set (``zero_shot_limit``; all of them
    when None)."""
    if limit is not None and int(limit) < 1:
        raise ValueError(f"zero_shot_limit={limit}: give a positive number of items, or null for all of them")
    return {name: items[:int(limit)] if limit is not None else list(items) for name, items in items_by_set.items()}


def _tools(cfg: DictConfig):
    from gpt4tools.catalog import select_tools

    t = cfg.get("tools")
    if t is None:
        return None
    split = t.split if isinstance(t.split, str) else list(t.split)
    return select_tools(split, t.get("include"), t.get("exclude"))


def _label(cfg: DictConfig) -> str:
    if cfg.get("label"):
        return str(cfg.label)
    if cfg.get("predictions"):
        return Path(str(cfg.predictions)).stem
    if cfg.endpoint.get("model"):
        return str(cfg.endpoint.model)
    if cfg.get("adapter"):
        p = Path(str(cfg.adapter))
        return f"{p.parent.name}/{p.name}" if p.name in ("adapter", "final") else p.name
    return str(cfg.model.name) + ("" if not cfg.get("merged") else "-merged")


def build_generator(cfg: DictConfig, with_adapter: bool = True) -> tuple[Any, dict]:
    """The generator the config asks for and the meta that identifies its predictions."""
    gen = OmegaConf.to_container(cfg.generation, resolve=True)
    if cfg.endpoint.get("model"):
        from gpt4tools.evaluation.endpoint import EndpointGenerator

        if gen.get("constrain_actions"):
            raise ValueError("generation.constrain_actions=true needs a local model (an endpoint's logits are not "
                             "ours to mask): set generation.constrain_actions=false with endpoint.model")
        ep = cfg.endpoint
        kwargs = {"stop": list(gen["stop"])} if gen.get("stop") else {}
        generator = EndpointGenerator(model=ep.model, base_url=ep.base_url, api_key_env=ep.api_key_env, api=ep.api,
                                      max_new_tokens=gen["max_new_tokens"], temperature=gen["temperature"] if
                                      gen["do_sample"] else 0.0, max_retries=ep.max_retries, timeout=ep.timeout,
                                      concurrency=ep.concurrency, **kwargs)
        meta = {"endpoint": ep.model, "base_url": ep.base_url, "api": ep.api}
    else:
        from gpt4tools.inference import load_for_inference, resolve_device

        adapter = cfg.adapter if with_adapter else None
        model, tokenizer = load_for_inference(cfg.model, adapter=adapter, merged=cfg.merged,
                                              dtype=str(cfg.get("dtype", "auto")),
                                              device=resolve_device(str(cfg.get("device", "auto"))))
        generator = make_generator(model, tokenizer, cfg.model.chat_template, gen)
        meta = {"model": str(cfg.model.name), "adapter": str(adapter) if adapter else None,
                "merged": str(cfg.merged) if cfg.merged else None, "template": str(cfg.model.chat_template),
                "dtype": str(model.dtype).removeprefix("torch.")}
    # an unconstrained run keeps the meta it had before the option existed, so its predictions still resume
    meta["generation"] = {k: v for k, v in gen.items()
                          if k not in EXECUTION_KEYS and not (k == "constrain_actions" and not v)}
    return generator, meta


def _wandb_run(cfg: DictConfig, label: str):
    node = (cfg.get("logger") or {}).get("wandb") if cfg.get("logger") else None
    if not node or not str(node.get("_target_", "")).endswith("WandbLogger"):
        return None
    import wandb

    return wandb.init(project=node.get("project", "gpt4tools"), name=node.get("name") or f"evaluate-{label}",
                      dir=str(node.get("save_dir") or cfg.work_dir), tags=list(node.get("tags") or []),
                      job_type="evaluate", config=OmegaConf.to_container(cfg, resolve=True), reinit="finish_previous")


def _generate_and_score(cfg: DictConfig, items_by_set, work_dir: Path, label: str, with_adapter: bool = True):
    index, count = int(cfg.shard.index), int(cfg.shard.count)
    shards = {k: shard_items(v, index, count) for k, v in items_by_set.items()}
    generator, meta = build_generator(cfg, with_adapter)
    meta["shard"] = [index, count]
    writer = PredictionWriter(prediction_file(work_dir, index, count), meta, resume=bool(cfg.resume))
    for items in shards.values():
        generate_predictions(generator, items, writer)
    if count > 1:
        log.info("Shard %d of %d done: %s. When every shard is done, score them all with "
                 "python evaluate.py predictions=%s", index, count, writer.path, work_dir)
        return None
    preds = load_predictions(writer.path, items_by_set, "ours")
    return score_and_report(items_by_set, preds, work_dir, list(cfg.scorers), label, meta,
                            float(cfg.args_threshold), bool(cfg.plots))


def run(cfg: DictConfig) -> dict | None:
    """Evaluate as configured (see ``conf/evaluate.yaml``); returns the report (None for a shard job)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    work_dir = Path(str(cfg.work_dir))
    work_dir.mkdir(parents=True, exist_ok=True)
    label = _label(cfg)
    items_by_set = load_sets(resolve_eval_sets(cfg), cfg.limit, _tools(cfg), bool(cfg.keep_no_tool))
    zero_shot_items = None
    if cfg.get("zero_shot") and not cfg.get("predictions") and cfg.get("adapter"):
        zero_shot_items = zero_shot_subset(items_by_set, cfg.get("zero_shot_limit"))  # checked before generating
    if cfg.get("predictions"):
        preds = load_predictions(str(cfg.predictions), items_by_set, str(cfg.predictions_format))
        result = score_and_report(items_by_set, preds, work_dir, list(cfg.scorers), label,
                                  {"predictions": str(cfg.predictions)}, float(cfg.args_threshold), bool(cfg.plots))
    else:
        result = _generate_and_score(cfg, items_by_set, work_dir, label)
    if result is None:
        return None
    report, paths = result
    reports = {label: report}
    if zero_shot_items is not None:
        zs = _generate_and_score(cfg, zero_shot_items, work_dir / "zero_shot", "zero_shot", with_adapter=False)
        if zs is not None:
            reports["zero_shot"] = zs[0]
            side_by_side(reports, work_dir)
    wb = _wandb_run(cfg, label)
    if wb is not None:
        log_to_wandb(report, paths, wb)
        wb.finish()
    print_summary(reports)
    return report


def print_summary(reports: Mapping[str, Mapping]) -> None:
    """The overall table of each report, printed with rich at the end of a run."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="GPT4Tools tool-use evaluation (%)")
    for col in ("model", "set", "scorer", "n", *METRICS):
        table.add_column(col)
    for label, rep in reports.items():
        for r in overall_rows(rep):
            table.add_row(label, r["set"], r["scorer"], str(r["n"]), *[r[m] for m in METRICS])
    Console().print(table)
