"""Benchmark: parse + validate + dedup (exact and near) + convert 100K raw teacher lines.

    python experiments/bench/data_pipeline.py [--lines 100000] [--baseline-lines 20000]

The raw lines are written by the offline teacher over the shipped captions (all 27 tools, several
samples per caption, with real-teacher noise), so they hold duplicates, near duplicates and bad lines.
Ours: ``ReplyParser`` (schema-aware arguments, fuzzy tool names), ``deduplicate`` (sorted-neighbourhood
near-dup search) and ``chain_samples`` (one sample per assistant step). The naive baseline, run side by
side on the same subset: the original's split-on-brackets-and-commas parsing, and near-dup search
comparing each line with every kept line of its tool (O(n^2)) - same rapidfuzz scorer and threshold.
Prints lines/s and the ratio. Target: the whole 100K in <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections import defaultdict

from rapidfuzz import fuzz

from gpt4tools.catalog import CATALOG
from gpt4tools.data.clean import deduplicate, normalize_text
from gpt4tools.data.convert import ConvertOptions, chain_samples
from gpt4tools.data.io import load_captions
from gpt4tools.data.parse import DropReport, ReplyParser
from gpt4tools.data.pipeline import SEED_DIR
from gpt4tools.data.teachers.base import TeacherRequest
from gpt4tools.data.teachers.offline import OfflineTeacher


def raw_lines(n: int) -> list[tuple[str, str]]:
    """``n`` raw teacher lines as (image_id, line)."""
    caps = [c for s in ("train", "val", "test") for c in load_captions(SEED_DIR / f"captions_{s}.json")]
    teacher = OfflineTeacher(seed=0, noise=0.03)
    out: list[tuple[str, str]] = []
    sample = 0
    while len(out) < n:
        reqs = [TeacherRequest(c["image_id"], c["caption"], tuple(CATALOG), sample=sample) for c in caps]
        for req, reply in zip(reqs, teacher.complete(reqs)):
            out.extend((req.image_id, line) for line in reply.splitlines() if line.strip())
        sample += 1
    return out[:n]


def ours(lines: list[tuple[str, str]], captions: dict[str, str]) -> dict:
    """Our pipeline; returns counts and per-stage seconds."""
    t0 = time.perf_counter()
    parser, report = ReplyParser(), DropReport()
    insts = []
    for image_id, line in lines:
        r = parser.parse_line(line, image_id)
        if isinstance(r, str):
            report.add(r, line)
        else:
            insts.append(r)
    t1 = time.perf_counter()
    kept = deduplicate(insts, report, near_threshold=92.0)
    t2 = time.perf_counter()
    rng, opts, pool = random.Random(0), ConvertOptions(), list(CATALOG.values())
    n_samples = n_chars = 0
    for inst in kept:
        for smp in chain_samples(inst, captions[inst.image_id], pool, rng, opts):
            n_samples += 1
            n_chars += len(smp.instruction) + len(smp.output)
    t3 = time.perf_counter()
    return {"kept": len(kept), "dropped": report.dropped, "samples": n_samples, "chars": n_chars,
            "parse_s": t1 - t0, "dedup_s": t2 - t1, "convert_s": t3 - t2, "total_s": t3 - t0}


def naive(lines: list[tuple[str, str]], captions: dict[str, str]) -> dict:
    """The naive baseline: bracket/comma split parsing, exact dedup on the raw line, all-pairs near-dup per tool."""
    t0 = time.perf_counter()
    names = {s.name.lower(): s for s in CATALOG.values()}
    parsed, seen_raw = [], set()
    for image_id, line in lines:
        parts = re.split(r"\[|\]", line[3:].strip())
        if len(parts) < 2:
            continue
        fields = [p.replace('"', "").strip() for p in parts[1].split(",")]
        spec = names.get(fields[0].lower())
        if spec is None or len(fields) - 1 < spec.num_args or line in seen_raw:
            continue
        seen_raw.add(line)
        parsed.append((image_id, parts[0].replace('"', "").strip().rstrip(","), spec, fields[1:]))
    t1 = time.perf_counter()
    by_tool: dict[str, list[str]] = defaultdict(list)
    kept = []
    for item in parsed:
        text = normalize_text(item[1])
        bucket = by_tool[item[2].key]
        if any(fuzz.ratio(text, other, score_cutoff=92.0) for other in bucket):
            continue
        bucket.append(text)
        kept.append(item)
    t2 = time.perf_counter()
    return {"kept": len(kept), "parse_s": t1 - t0, "dedup_s": t2 - t1, "total_s": t2 - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--baseline-lines", type=int, default=20_000)
    args = ap.parse_args()
    t = time.perf_counter()
    lines = raw_lines(args.lines)
    captions = {c["image_id"]: c["caption"] for s in ("train", "val", "test")
                for c in load_captions(SEED_DIR / f"captions_{s}.json")}
    print(f"raw lines: {len(lines)} (written by the offline teacher in {time.perf_counter() - t:.1f}s, not timed)")

    sub = lines[: args.baseline_lines]
    a, b = ours(sub, captions), naive(sub, captions)
    print(f"\nside by side on {len(sub)} lines (parse + dedup; ours also converts):")
    print(f"  ours : {a['total_s']:6.2f}s  {len(sub) / a['total_s']:9.0f} lines/s  (dedup {a['dedup_s']:.2f}s, "
          f"kept {a['kept']})")
    print(f"  naive: {b['total_s']:6.2f}s  {len(sub) / b['total_s']:9.0f} lines/s  (dedup {b['dedup_s']:.2f}s, "
          f"kept {b['kept']})")
    print(f"  dedup speed-up: {b['dedup_s'] / max(a['dedup_s'], 1e-9):.1f}x; "
          f"end-to-end ratio ours/naive lines/s: {b['total_s'] / a['total_s']:.2f}x (ours does more: conversion)")

    r = ours(lines, captions)
    print(f"\nfull run on {len(lines)} lines: parse {r['parse_s']:.2f}s, dedup {r['dedup_s']:.2f}s, "
          f"convert {r['convert_s']:.2f}s -> total {r['total_s']:.2f}s = {len(lines) / r['total_s']:.0f} lines/s")
    print(f"  kept {r['kept']} instructions, dropped {r['dropped']} lines, {r['samples']} samples "
          f"({r['chars'] / 1e6:.0f} M characters); target <= 60 s: {'met' if r['total_s'] <= 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
