"""The shipped seeds: enough distinct scenes split without overlap, enough no-tool requests, loaders."""

from __future__ import annotations

import json
import re

from gpt4tools.data.io import caption_objects, load_alpaca, load_captions
from gpt4tools.data.pipeline import DEFAULT_ALPACA, SEED_DIR
from gpt4tools.data.seedgen import compose_scenes, split_scenes


def test_at_least_500_distinct_scenes_split_without_overlap():
    splits = {s: load_captions(SEED_DIR / f"captions_{s}.json") for s in ("train", "val", "test")}
    texts = {s: {c["caption"].split(" [")[0] for c in items} for s, items in splits.items()}
    assert sum(len(t) for t in texts.values()) >= 500
    assert all(len(texts[s]) == len(splits[s]) for s in splits)  # distinct within a split
    assert not texts["train"] & texts["val"] and not texts["train"] & texts["test"] and not texts["val"] & texts["test"]
    assert len(splits["val"]) >= 60 and len(splits["test"]) >= 60
    for items in splits.values():
        assert all(len(c["objects"]) >= 2 for c in items)


def test_committed_captions_are_what_the_generator_writes():
    expected = split_scenes(compose_scenes())
    for split, items in expected.items():
        assert json.loads((SEED_DIR / f"captions_{split}.json").read_text()) == items


def test_alpaca_has_300_distinct_requests_with_answers():
    items = [a for name in DEFAULT_ALPACA for a in load_alpaca(SEED_DIR / name)]
    keys = {(a["instruction"].strip().lower(), a["input"].strip().lower()) for a in items}
    assert len(items) >= 300 and len(keys) == len(items)
    assert all(len(a["output"].split()) >= 1 for a in items)


def test_computed_answers_are_right():
    items = load_alpaca(SEED_DIR / "alpaca_generated.json")
    for a in items:
        m = re.fullmatch(r"(?:What is|Calculate|Compute) (\d+) (plus|minus|times) (\d+)(?: for me)?[?.]", a["instruction"])
        if m:
            x, op, y = int(m.group(1)), m.group(2), int(m.group(3))
            val = {"plus": x + y, "minus": x - y, "times": x * y}[op]
            assert a["output"] == f"{x} {op} {y} equals {val}."


def test_caption_objects_and_coco_style_file(tmp_path):
    assert caption_objects("A man rides. man [1, 2, 30, 40], red kite: [5.0, 6, 70, 80]") == [
        ("man", [1, 2, 30, 40]), ("red kite", [5, 6, 70, 80])]
    coco = tmp_path / "captions_coco.json"
    coco.write_text(json.dumps({"annotations": [{"image_id": 9, "caption": "A dog on a sofa."}]}))
    caps = load_captions(coco)
    assert caps == [{"image_id": "9", "caption": "A dog on a sofa.", "objects": []}]
