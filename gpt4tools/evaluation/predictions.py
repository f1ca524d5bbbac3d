"""Predictions on disk: incremental JSONL writing, resume, shards and their merge, foreign formats.

Our format is JSONL, one line per generated item: ``{"id", "set", "response"}`` where ``response``
is the model's text after the prompt. A sidecar ``<name>.meta.json`` records what produced it (model,
adapter, generation settings, shard) so a resumed run cannot silently mix two models' outputs.
An unsharded run writes ``predictions.jsonl``; shard ``i`` of ``n`` writes
``predictions.shard-<i>-of-<n>.jsonl``; :func:`load_predictions` on a folder merges every
``predictions*.jsonl`` in it, for any ``n``, and checks that no shard is missing.

Also read: the original's prediction files, a JSON list of ``{"id", "output"}`` whose output begins
with the prompt (``format=original``: the prompt is cut by the character length of the gt
instruction, as ``eval/evaluate_result.py`` does) or holds only the answer (``format=original_api``,
its GPT-3.5 path).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gpt4tools.evaluation.items import EvalDataError, EvalItem, read_records
from gpt4tools.utils.errors import ConfigError

log = logging.getLogger(__name__)

FORMATS = ("auto", "ours", "original", "original_api")
_SHARD_RE = re.compile(r"predictions\.shard-(\d+)-of-(\d+)\.jsonl$")


def prediction_file(work_dir: str | Path, shard_index: int = 0, shard_count: int = 1) -> Path:
    """Where a run (or one shard of it) writes its predictions."""
    name = "predictions.jsonl" if shard_count == 1 else f"predictions.shard-{shard_index}-of-{shard_count}.jsonl"
    return Path(work_dir) / name


def meta_file(pred_file: Path) -> Path:
    """The sidecar describing how ``pred_file`` was produced."""
    return pred_file.with_name(pred_file.name[: -len(".jsonl")] + ".meta.json")


def shard_items(items: Sequence[EvalItem], index: int, count: int) -> list[EvalItem]:
    """Shard ``index`` of ``count``: every ``count``-th item (balanced lengths, any ``count``)."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard index {index} is not in [0, {count})")
    return list(items[index::count])


class PredictionWriter:
    """Appends predictions line by line (flushed and fsynced per batch) and knows what is done.

    Re-opening an existing file resumes it: complete lines are kept, a line cut by an interruption
    is dropped (and logged), and the meta sidecar must match the new run's meta.
    """

    def __init__(self, path: str | Path, meta: Mapping[str, Any], resume: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.meta = dict(meta)
        self.done: set[tuple[str, str]] = set()
        mpath = meta_file(self.path)
        if self.path.exists() and resume:
            if mpath.exists():
                old = json.loads(mpath.read_text())
                diff = {k: (old.get(k), v) for k, v in self.meta.items() if old.get(k) != v}
                if diff:
                    raise EvalDataError(f"{self.path}: cannot resume, it was produced with different settings "
                                        f"{diff}; use another work_dir or resume=false")
            self._recover()
        elif self.path.exists():
            self.path.unlink()
        mpath.write_text(json.dumps(self.meta, indent=2, sort_keys=True))

    def _recover(self) -> None:
        raw = self.path.read_bytes()
        keep = raw[: raw.rfind(b"\n") + 1]
        if len(keep) != len(raw):
            log.warning("%s: dropping an incomplete last line left by an interrupted run", self.path)
            with open(self.path, "r+b") as f:
                f.truncate(len(keep))
        for n, line in enumerate(keep.decode("utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    raise EvalDataError(f"{self.path}: line {n} is not JSON; cannot resume") from None
                self.done.add((str(rec["set"]), str(rec["id"])))
        if self.done:
            log.info("Resuming %s: %d predictions already done", self.path, len(self.done))

    def write(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append records ``{"id", "set", "response", ...}`` durably."""
        with open(self.path, "a", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(dict(rec), ensure_ascii=False) + "\n")
                self.done.add((str(rec["set"]), str(rec["id"])))
            f.flush()
            os.fsync(f.fileno())


def _check_shards(folder: Path, files: list[Path]) -> None:
    counts: dict[int, set[int]] = {}
    for f in files:
        if m := _SHARD_RE.search(f.name):
            counts.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
    for count, seen in counts.items():
        missing = sorted(set(range(count)) - seen)
        if missing:
            raise EvalDataError(f"{folder}: shards {missing} of {count} are missing; run them (shard.index=i "
                                f"shard.count={count}) before merging")


def _read_ours(path: Path, out: dict[str, dict[str, str]]) -> None:
    for index, rec in enumerate(read_records(path)):
        if not isinstance(rec, dict) or "id" not in rec or "response" not in rec:
            raise EvalDataError(f"{path}: record {index} lacks 'id' or 'response'")
        key, text = str(rec["id"]), rec["response"]
        previous = out.setdefault(str(rec.get("set", "")), {}).setdefault(key, text)
        if previous != text:
            log.warning("%s: id %s predicted twice with different texts; keeping the first", path, key)


def _read_original(path: Path, items: Sequence[EvalItem], strip_prompt: bool) -> dict[str, str]:
    by_id = {it.id: it for it in items}
    out: dict[str, str] = {}
    unmatched = 0
    for index, rec in enumerate(read_records(path)):
        if not isinstance(rec, dict) or "id" not in rec or "output" not in rec:
            raise EvalDataError(f"{path}: record {index} lacks 'id' or 'output'")
        text = rec["output"]
        if isinstance(text, list):
            text = text[0] if text else ""
        if not isinstance(text, str):
            raise EvalDataError(f"{path}: record {index} (id={rec['id']!r}): output is not a string")
        item = by_id.get(str(rec["id"]))
        if item is None:  # the original skips predictions without a gt item ("Empty Gt"); so do we, counted
            unmatched += 1
            continue
        out[item.id] = (text[len(item.instruction):] if strip_prompt else text).strip()  # last wins, as its gather
    if unmatched:
        log.warning("%s: %d predictions have no gt item in the eval set and are not scored", path, unmatched)
    return out


def detect_format(path: Path) -> str:
    """``ours`` for our JSONL files/folders, ``original`` for a JSON list of ``{id, output}``."""
    if path.is_dir() or path.suffix == ".jsonl":
        return "ours"
    records = read_records(path)
    if records and isinstance(records[0], dict) and "response" in records[0]:
        return "ours"
    return "original"


def load_predictions(path: str | Path, items_by_set: Mapping[str, Sequence[EvalItem]],
                     fmt: str = "auto") -> dict[str, dict[str, str]]:
    """Predicted texts (prompt removed) by eval set and item id.

    Args:
        path: one of our JSONL files, a folder of them (shards are merged), or an original-format file.
        items_by_set: the eval items, needed to cut the prompt from original-format outputs.
        fmt: one of :data:`FORMATS`; original formats need exactly one eval set.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise ConfigError(f"predictions_format={fmt!r}: choose one of {', '.join(FORMATS)}")
    if not path.exists():
        raise EvalDataError(f"{path}: no such predictions file or folder")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "ours":
        out: dict[str, dict[str, str]] = {}
        files = sorted(path.glob("predictions*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise EvalDataError(f"{path}: no predictions*.jsonl files in this folder")
        _check_shards(path, files)
        for f in files:
            _read_ours(f, out)
        if "" in out:  # records without a set name: matched by id, which must then be unambiguous
            owners: dict[str, list[str]] = {}
            for name, items in items_by_set.items():
                for it in items:
                    owners.setdefault(it.id, []).append(name)
            for key, text in out.pop("").items():
                sets = owners.get(key, [])
                if len(sets) > 1:
                    raise EvalDataError(f"{path}: record id={key!r} has no 'set' and that id is in several eval "
                                        f"sets ({', '.join(sets)})")
                out.setdefault(sets[0] if sets else "", {})[key] = text
        return _checked(path, out, items_by_set)
    if len(items_by_set) != 1:
        raise EvalDataError(f"{path}: an original-format predictions file scores exactly one eval set, "
                            f"got {len(items_by_set)} ({', '.join(items_by_set)})")
    (name, items), = items_by_set.items()
    return _checked(path, {name: _read_original(path, items, strip_prompt=fmt == "original")}, items_by_set)


def _checked(path: Path, predictions: dict[str, dict[str, str]],
             items_by_set: Mapping[str, Sequence[EvalItem]]) -> dict[str, dict[str, str]]:
    """``predictions``, refused when it holds none, or none for an item of the eval sets (scoring either would
    report 0 on every item without a word).

    Raises:
        EvalDataError: naming the predictions file or folder.
    """
    wanted = {name: {it.id for it in items} for name, items in items_by_set.items()}
    if not any(wanted.values()):  # nothing to score (e.g. no item of the chosen tools): nothing to check against
        return predictions
    total = sum(len(by_id) for by_id in predictions.values())
    if not total:
        raise EvalDataError(f"{path}: holds no predictions; generate them (python evaluate.py adapter=...) or "
                            f"give another predictions file")
    if not any(wanted.get(name, set()) & set(by_id) for name, by_id in predictions.items()):
        raise EvalDataError(f"{path}: none of its {total} predictions is for an item of the eval set(s) "
                            f"{', '.join(wanted)} (matched by set name and id); score it with the eval_sets it was "
                            f"made for")
    return predictions
