"""The data pipeline: teacher -> parse/clean -> dedup -> convert -> train / val_seen / test_unseen.

``generate_dataset`` runs it into a folder; ``ensure_dataset`` is what training and evaluation call: it
returns the configured files (official files by path, validated) or generates the dataset once into a
cache folder under ``paths.data_dir`` keyed by a hash of every setting that changes the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from gpt4tools.catalog import CATALOG, ToolSpec, select_tools
from gpt4tools.data.clean import deduplicate, normalize_text
from gpt4tools.data.convert import ConvertOptions, Sample, chain_samples, merged_samples, negative_sample
from gpt4tools.data.io import load_alpaca, load_captions, load_samples, write_json_atomic
from gpt4tools.data.parse import DropReport, Instruction, ReplyParser
from gpt4tools.data.teachers import TeacherRequest, build_teacher, teacher_settings
from gpt4tools.utils.files import build_dir_atomically
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)

FORMAT_VERSION = 1
"""Bumped whenever generation changes its output for the same settings (invalidates caches)."""
SEED_DIR = Path(__file__).resolve().parents[1] / "assets" / "seeds"
SPLITS = ("train", "val_seen", "test_unseen")
CAPTION_SPLIT = {"train": "train", "val_seen": "val", "test_unseen": "test"}
FILE_KEYS = {"train": "train_file", "val_seen": "val_seen_file", "test_unseen": "test_unseen_file"}
DEFAULT_ALPACA = ("alpaca_handwritten.json", "alpaca_generated.json")

DEFAULTS = {
    "captions": {"train": None, "val": None, "test": None}, "alpaca": None, "test_tools": None,
    "train_samples": 1600, "val_samples": 300, "test_samples": 300, "fraction": 1.0, "instructions_per_tool": 1,
    "negatives_ratio": 0.4, "eval_negatives_ratio": 0.25, "context_samples": True, "context_mode": "all",
    "final_steps": 0.5,
    "multi_turn": False, "multi_turn_prob": 0.3, "multi_turn_max": 3, "min_tools": 2, "max_tools": 5,
    "no_image_caption_prob": 0.5, "near_dup_threshold": 92.0, "fuzzy_tool_threshold": 88.0,
    "alpaca_split": [0.7, 0.15, 0.15], "request_tools": "split", "tool_aliases": 0.0,
    "caption_boxes": 1.0,
}


@dataclass
class GeneratedData:
    """Samples per split with the drop reports, raw replies and teacher usage behind them."""

    samples: dict[str, list[Sample]]
    reports: dict[str, DropReport]
    raw: dict[str, list[dict]]
    usage: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def _data_settings(cfg: DictConfig) -> dict:
    data = OmegaConf.to_container(cfg.data, resolve=True) if "data" in cfg else {}
    out = {k: data.get(k, v) for k, v in DEFAULTS.items()}
    out["captions"] = {**DEFAULTS["captions"], **(data.get("captions") or {})}
    return out


def tool_splits(cfg: DictConfig) -> tuple[list[ToolSpec], list[ToolSpec]]:
    """(training/val_seen tools, test_unseen tools) from ``cfg.tools`` and ``cfg.data.test_tools``."""
    settings = _data_settings(cfg)
    test_keys = settings["test_tools"]
    test = select_tools(list(test_keys)) if test_keys else select_tools("unseen")
    tools_cfg = cfg.get("tools") or {"split": "seen", "include": {}, "exclude": {}}
    train = select_tools(tools_cfg.get("split", "seen"), tools_cfg.get("include"), tools_cfg.get("exclude"))
    overlap = {t.key for t in train} & {t.key for t in test}
    if overlap:
        log.warning("tools %s are held out for test_unseen and are removed from training", sorted(overlap))
        train = [t for t in train if t.key not in overlap]
    if len(train) < 2 or not test:
        raise ValueError(f"need >= 2 training tools and >= 1 test tool, got {len(train)} and {len(test)}")
    return train, test


def _input_files(settings: dict) -> dict[str, list[Path]]:
    caps = {s: [Path(settings["captions"][s])] if settings["captions"].get(s) else [SEED_DIR / f"captions_{s}.json"]
            for s in ("train", "val", "test")}
    alpaca = [Path(p) for p in settings["alpaca"]] if settings["alpaca"] else [SEED_DIR / n for n in DEFAULT_ALPACA]
    return {**caps, "alpaca": alpaca}


def settings_hash(cfg: DictConfig) -> str:
    """A hash of everything that changes the generated dataset (settings, tools, teacher, seed, input files)."""
    settings = _data_settings(cfg)
    for key, off in (("tool_aliases", 0.0), ("caption_boxes", 1.0)):  # off gives the data of before the option:
        if float(settings[key]) == off:                               # keep those caches
            settings.pop(key)
    train, test = tool_splits(cfg)
    teacher = teacher_settings(cfg)
    digests = {}
    for name, paths in _input_files(settings).items():
        digests[name] = [hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else str(p) for p in paths]
    blob = json.dumps({"v": FORMAT_VERSION, "settings": settings, "train_tools": [t.key for t in train],
                       "test_tools": [t.key for t in test], "teacher": teacher, "seed": int(cfg.get("seed", 0)),
                       "inputs": digests}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _interleave(insts: Sequence[Instruction], rng: random.Random) -> list[Instruction]:
    """Round-robin over tools so that any prefix is balanced per tool."""
    by_tool: dict[str, list[Instruction]] = defaultdict(list)
    for inst in insts:
        by_tool[inst.tool].append(inst)
    queues = []
    for key in sorted(by_tool):
        q = by_tool[key]
        rng.shuffle(q)
        queues.append(q)
    out = []
    for i in range(max((len(q) for q in queues), default=0)):
        layer = [q[i] for q in queues if i < len(q)]
        rng.shuffle(layer)
        out.extend(layer)
    return out


def _convert_options(s: dict, split: str) -> ConvertOptions:
    """Conversion knobs of one split; the training-only augmentations stay off for the eval sets."""
    opts = ConvertOptions(min_tools=int(s["min_tools"]), max_tools=int(s["max_tools"]),
                          context_samples=bool(s["context_samples"]), context_mode=str(s["context_mode"]),
                          no_image_caption_prob=float(s["no_image_caption_prob"]))
    if split == "train":
        opts.final_step_prob = float(s["final_steps"])
        opts.alias_prob = float(s["tool_aliases"])
        opts.boxes_prob = float(s["caption_boxes"])
    return opts


def _assemble(insts: Sequence[Instruction], captions: dict[str, str], pool: Sequence[ToolSpec],
              alpaca: list[dict], target: int | None, neg_ratio: float, s: dict, rng: random.Random,
              opts: ConvertOptions) -> list[Sample]:
    order = _interleave(insts, rng)
    by_image: dict[str, list[int]] = defaultdict(list)
    for i, inst in enumerate(order):
        by_image[inst.image_id].append(i)
    used = [False] * len(order)
    caption_list = list(captions.values())
    samples: list[Sample] = []
    owed, neg_i, cycled = 0.0, 0, False
    for i, inst in enumerate(order):
        if target is not None and len(samples) >= target:
            break
        if used[i]:
            continue
        used[i] = True
        caption = captions[inst.image_id]
        if s["multi_turn"] and rng.random() < float(s["multi_turn_prob"]):
            more = [j for j in by_image[inst.image_id] if not used[j]][: max(0, int(s["multi_turn_max"]) - 1)]
            for j in more:
                used[j] = True
            samples.extend(merged_samples([inst, *(order[j] for j in more)], caption, pool, rng, opts))
            owed += neg_ratio * (1 + len(more))
        else:
            samples.extend(chain_samples(inst, caption, pool, rng, opts))
            owed += neg_ratio
        while owed >= 1 and alpaca:
            if neg_i == len(alpaca):
                neg_i, cycled = 0, True
            samples.append(negative_sample(alpaca[neg_i], caption_list, pool, rng, opts))
            neg_i += 1
            owed -= 1
    if cycled:
        log.warning("the no-tool requests of this split were used more than once (raise their number or lower "
                    "negatives_ratio)")
    if target is not None:
        samples = samples[:target]
    rng.shuffle(samples)
    return samples


def generate_dataset(cfg: DictConfig, teacher=None) -> GeneratedData:
    """Run the whole pipeline for ``cfg`` and return samples per split (nothing is written)."""
    s = _data_settings(cfg)
    seed = int(cfg.get("seed", 0))
    train_tools, test_tools = tool_splits(cfg)
    files = _input_files(s)
    captions = {name: [c for p in files[name] for c in load_captions(p)] for name in ("train", "val", "test")}
    alpaca_all, seen_text = [], set()
    loaded = [a for p in files["alpaca"] for a in load_alpaca(p)]
    for item in loaded:
        key = normalize_text(f"{item['instruction']} {item.get('input', '')}")
        if key not in seen_text:  # a repeated request would otherwise land in two splits
            seen_text.add(key)
            alpaca_all.append(item)
    if len(loaded) > len(alpaca_all):
        log.warning("%d repeated no-tool requests removed from %s", len(loaded) - len(alpaca_all),
                    ", ".join(map(str, files["alpaca"])))
    rng = random.Random(seed)
    rng.shuffle(alpaca_all)
    cut1 = int(len(alpaca_all) * s["alpaca_split"][0])
    cut2 = cut1 + int(len(alpaca_all) * s["alpaca_split"][1])
    alpaca = {"train": alpaca_all[:cut1], "val_seen": alpaca_all[cut1:cut2], "test_unseen": alpaca_all[cut2:]}
    if teacher is None:
        teacher = build_teacher(cfg)
    split_tools = {"train": train_tools, "val_seen": train_tools, "test_unseen": test_tools}
    pools = {"train": train_tools, "val_seen": train_tools, "test_unseen": [*train_tools, *test_tools]}
    targets = {"train": s["train_samples"], "val_seen": s["val_samples"], "test_unseen": s["test_samples"]}
    neg = {"train": s["negatives_ratio"], "val_seen": s["eval_negatives_ratio"], "test_unseen": s["eval_negatives_ratio"]}
    taken: set[str] = set()
    out = GeneratedData({}, {}, {}, settings=s)
    for split in SPLITS:
        caps = captions[CAPTION_SPLIT[split]]
        caps = caps[: max(1, round(len(caps) * float(s["fraction"])))]
        keys = tuple(t.key for t in split_tools[split])
        asked = tuple(CATALOG) if s["request_tools"] == "all" else keys
        requests = [TeacherRequest(c["image_id"], c["caption"], asked, int(s["instructions_per_tool"]), split=split)
                    for c in caps]
        t0 = time.perf_counter()
        replies = teacher.complete(requests)
        report = DropReport()
        parser = ReplyParser(keys, fuzzy_threshold=float(s["fuzzy_tool_threshold"]))
        insts = [i for req, reply in zip(requests, replies) for i in parser.parse_reply(req.image_id, reply, report)]
        nd = s["near_dup_threshold"]
        insts = deduplicate(insts, report, near_threshold=None if nd is None else float(nd), taken=taken)
        report.kept = len(insts)
        by_id = {c["image_id"]: c["caption"] for c in caps}
        target = None if targets[split] is None else int(targets[split])
        out.samples[split] = _assemble(insts, by_id, pools[split], alpaca[split], target, float(neg[split]), s,
                                       random.Random(f"{seed}-{split}"), _convert_options(s, split))
        out.reports[split] = report
        out.raw[split] = [{"image_id": r.image_id, "reply": reply} for r, reply in zip(requests, replies)]
        log.info("%s: %d replies -> %d instructions kept, %d lines dropped -> %d samples (%.1fs)", split,
                 len(replies), report.kept, report.dropped, len(out.samples[split]), time.perf_counter() - t0)
    out.usage = teacher.usage_summary()
    return out


def split_stats(data: GeneratedData) -> dict:
    """Samples per split by chain tool and by kind."""
    stats = {}
    for split, samples in data.samples.items():
        by_tool: dict[str, int] = defaultdict(int)
        by_kind: dict[str, int] = defaultdict(int)
        for smp in samples:
            by_tool[smp.chain_tool] += 1
            by_kind[smp.kind] += 1
        stats[split] = {"total": len(samples), "by_tool": dict(sorted(by_tool.items())), "by_kind": dict(by_kind)}
    return stats


def write_dataset(data: GeneratedData, folder: str | os.PathLike, raw: bool = True) -> dict[str, Path]:
    """Write the splits (``train.json``, ``val_seen.json``, ``test_unseen.json``), ``report.json`` and raw replies."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split in SPLITS:
        samples = data.samples[split]
        if split == "train":
            records = [smp.record() for smp in samples]
        else:
            records = [smp.record(f"{split}_{i:05d}") for i, smp in enumerate(samples)]
        paths[split] = folder / f"{split}.json"
        write_json_atomic(paths[split], records)
        if raw:
            with open(folder / f"raw_{split}.jsonl", "w", encoding="utf-8") as fh:
                for item in data.raw[split]:
                    fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    report = {"splits": split_stats(data), "drops": {k: r.to_dict() for k, r in data.reports.items()},
              "teacher_usage": data.usage, "settings": data.settings, "format_version": FORMAT_VERSION}
    write_json_atomic(folder / "report.json", report, indent=1)
    return paths


def _configured_files(cfg: DictConfig) -> dict[str, Path | None]:
    data = cfg.get("data") or {}
    return {split: (Path(str(data.get(key))) if data.get(key) else None) for split, key in FILE_KEYS.items()}


def dataset_dir(cfg: DictConfig) -> Path:
    """The cache folder of the generated dataset for ``cfg``."""
    name = str((cfg.get("data") or {}).get("name", "data"))
    return Path(str(cfg.paths.data_dir)).absolute() / "generated" / f"{name}-{settings_hash(cfg)}"


def ensure_dataset(cfg: DictConfig) -> dict[str, Path]:
    """Paths of the ``train``, ``val_seen`` and ``test_unseen`` files for the composed config ``cfg``.

    Files named by ``data.train_file`` / ``data.val_seen_file`` / ``data.test_unseen_file`` are validated
    (``load_samples``; eval files need ``id``) and returned as they are. The others (null) come from the
    generated dataset: built with ``cfg.teacher`` (offline when absent) into
    ``<paths.data_dir>/generated/<name>-<hash>/`` once, then reused. Generation writes to a temporary
    folder renamed into place and holds a file lock, so concurrent callers neither clash nor repeat work.
    """
    given = _configured_files(cfg)
    for split, path in given.items():
        if path is not None:
            load_samples(path, require_id=split != "train")
    paths = {k: v for k, v in given.items() if v is not None}
    if len(paths) == len(SPLITS):
        return paths
    final = dataset_dir(cfg)

    def build(tmp: Path) -> None:
        t0 = time.perf_counter()
        write_dataset(generate_dataset(cfg), tmp)
        (tmp / "config.yaml").write_text(OmegaConf.to_yaml(cfg.get("data") or {}))
        log.info("generated dataset %s in %.1fs", final, time.perf_counter() - t0)

    build_dir_atomically(final, build, lambda d: all((d / f"{s}.json").is_file() for s in SPLITS))
    for split in SPLITS:
        paths.setdefault(split, final / f"{split}.json")
    return {s: paths[s] for s in SPLITS}
