"""Prediction files: shards for any n, formats, ambiguity and bad records."""

import json

import pytest

from gpt4tools.evaluation.items import EvalDataError, EvalItem, load_eval_set
from gpt4tools.evaluation.predictions import PredictionWriter, load_predictions, prediction_file, shard_items


def _items(name, n):
    return [EvalItem(str(i), f"prompt {i} ", "Thought: Do I need to use a tool? No\nAI: x", set=name) for i in range(n)]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 12, 15])
def test_shards_partition_the_items_for_any_count(count):
    items = _items("s", 12)
    parts = [shard_items(items, i, count) for i in range(count)]
    assert sorted(it.id for p in parts for it in p) == sorted(it.id for it in items)


def test_writer_merge_and_ambiguous_set_less_records(tmp_path):
    sets = {"a": _items("a", 4), "b": _items("b", 4)}
    for i in range(12):
        w = PredictionWriter(prediction_file(tmp_path, i, 12), {"k": 1})
        w.write({"id": it.id, "set": it.set, "response": f"r{it.set}{it.id}"}
                for name in sets for it in shard_items(sets[name], i, 12))
    merged = load_predictions(tmp_path, sets)
    assert merged == {n: {it.id: f"r{n}{it.id}" for it in sets[n]} for n in sets}
    bad = tmp_path / "x.jsonl"
    bad.write_text(json.dumps({"id": "1", "response": "?"}) + "\n")
    with pytest.raises(EvalDataError, match="several eval sets"):
        load_predictions(bad, sets)
    bad.write_text(json.dumps({"id": "1"}) + "\n")
    with pytest.raises(EvalDataError, match="record 0 lacks"):
        load_predictions(bad, sets)


def test_original_formats_cut_the_prompt_by_length(tmp_path):
    items = {"s": _items("s", 2)}
    path = tmp_path / "orig.json"
    path.write_text(json.dumps([{"id": 0, "output": "prompt 0  Thought: A"}, {"id": 1, "output": ["prompt 1 B"]},
                                {"id": 9, "output": "no gt"}]))
    assert load_predictions(path, items) == {"s": {"0": "Thought: A", "1": "B"}}
    assert load_predictions(path, items, "original_api") == {"s": {"0": "prompt 0  Thought: A", "1": "prompt 1 B"}}
    with pytest.raises(EvalDataError, match="exactly one eval set"):
        load_predictions(path, {"s": items["s"], "t": _items("t", 1)})


def test_eval_file_errors_name_file_and_item(tmp_path):
    f = tmp_path / "e.jsonl"
    f.write_text('{"id": 1, "instruction": "i", "output": "o"}\n{"id": 1, "instruction": "i", "output": "o"}\n')
    with pytest.raises(EvalDataError, match=r"e.jsonl: item 1 \(id=1\): duplicate id"):
        load_eval_set(f)
    f.write_text('{"id": 1, "instruction": "i", "output": 3}\n')
    with pytest.raises(EvalDataError, match="field 'output' must be a string"):
        load_eval_set(f)
    f.write_text('{"id": 1,\n')
    with pytest.raises(EvalDataError, match="line 1 is not valid JSON"):
        load_eval_set(f)
