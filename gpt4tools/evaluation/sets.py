"""Which eval sets an evaluation scores: split names or files, the default dataset's sets, subsets of items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from gpt4tools.catalog import ToolSpec
from gpt4tools.evaluation.items import EvalDataError, EvalItem, load_eval_set, select_by_tools
from gpt4tools.utils.config import CONFIG_DIR
from gpt4tools.utils.errors import ConfigError
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)

SPLITS = ("train", "val_seen", "test_unseen")
EVAL_SPLITS = ("val_seen", "test_unseen")


def _dataset(cfg: Any) -> dict[str, Path]:
    try:
        from gpt4tools.data import ensure_dataset
    except ImportError as err:
        raise EvalDataError(f"the dataset's eval files do not exist and the data pipeline is not available to "
                            f"build them ({err}); pass eval file paths") from None
    return {k: Path(v) for k, v in ensure_dataset(cfg).items()}


def resolve_eval_sets(entries: str | Sequence[str], cfg: Any) -> dict[str, Path]:
    """Eval set names/paths -> files. Dataset split names use ``cfg.data.<split>_file``; the data pipeline
    (``gpt4tools.data.ensure_dataset`` on ``cfg``) builds the dataset when those files do not exist yet."""
    entries = [entries] if isinstance(entries, str) else list(entries)
    out: dict[str, Path] = {}
    dataset: dict[str, Path] | None = None
    for entry in map(str, entries):
        if entry in SPLITS:
            path = Path(str(cfg.data.get(f"{entry}_file", "")))
            if not path.is_file():
                dataset = dataset if dataset is not None else _dataset(cfg)
                path = dataset[entry]
            out[entry] = path
        else:
            path = Path(entry)
            if not path.is_file():
                raise EvalDataError(f"eval set {entry!r}: neither a dataset split ({', '.join(SPLITS)}) nor a file")
            out[path.stem] = path
    return out


def default_eval_files(paths: Mapping[str, Any]) -> dict[str, Path]:
    """The val_seen / test_unseen files of the default dataset (``conf/data/default.yaml`` with the seed of
    ``conf/evaluate.yaml``): what ``python evaluate.py`` scores by default, the same items for every run.

    ``paths`` gives ``data_dir`` (where generated datasets live) and optionally ``cache_dir``.
    """
    cfg = OmegaConf.create({"data": OmegaConf.load(CONFIG_DIR / "data" / "default.yaml"),
                            "seed": OmegaConf.load(CONFIG_DIR / "evaluate.yaml").seed,
                            "paths": {k: str(paths[k]) for k in ("data_dir", "cache_dir") if paths.get(k)}})
    files = _dataset(cfg)
    return {split: files[split] for split in EVAL_SPLITS}


def load_sets(eval_sets: Mapping[str, str | Path], limit: int | None = None, tools: Sequence[ToolSpec] | None = None,
              keep_no_tool: bool = True) -> dict[str, list[EvalItem]]:
    """Load eval files by set name, keep the items of the chosen tools, then the first ``limit`` of each."""
    out = {}
    for name, path in eval_sets.items():
        items = select_by_tools(load_eval_set(path, name), tools, keep_no_tool)
        out[name] = items[:limit] if limit else items
        log.info("Eval set %s: %d items from %s", name, len(out[name]), path)
    return out


def zero_shot_subset(items_by_set: Mapping[str, list[EvalItem]], limit: int | None) -> dict[str, list[EvalItem]]:
    """The items the zero-shot baseline scores: the first ``limit`` of each set (all of them when None)."""
    if limit is not None and int(limit) < 1:
        raise ConfigError(f"zero_shot_limit={limit}: give a positive number of items, or null for all of them")
    return {name: items[:int(limit)] if limit is not None else list(items) for name, items in items_by_set.items()}
