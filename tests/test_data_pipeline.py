"""The dataset pipeline end to end: ensure_dataset, formats, split disjointness, unseen tools, knobs, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpt4tools.catalog import CATALOG, find_by_name
from gpt4tools.data import DataFormatError, ensure_dataset, generate_dataset, load_samples
from gpt4tools.data.pipeline import dataset_dir, settings_hash
from gpt4tools.utils.config import compose

REPO = Path(__file__).resolve().parents[1]
UNSEEN_NAMES = {s.name for s in CATALOG.values() if s.split == "unseen"}
_NEW_INPUT = re.compile(r"\nNew input: (.*)\nGPT4Tools needs to use tools")
_SHOWN = re.compile(r"should be one of \[(.*)\]")


def _cfg(tmp_path, *overrides):
    return compose("train", [f"paths.data_dir={tmp_path}", *overrides])


@pytest.fixture(scope="module")
def default_paths(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("data")
    t0 = time.perf_counter()
    paths = ensure_dataset(_cfg(tmp))
    return paths, time.perf_counter() - t0, tmp


def _load_all(paths):
    return {k: json.loads(Path(p).read_text()) for k, p in paths.items()}


def test_default_dataset_is_generated_fast_and_reused(default_paths):
    paths, seconds, tmp = default_paths
    assert set(paths) == {"train", "val_seen", "test_unseen"}
    assert seconds < 30, seconds
    data = _load_all(paths)
    assert len(data["train"]) == 1600 and len(data["val_seen"]) == 300 and len(data["test_unseen"]) == 300
    mtimes = [p.stat().st_mtime_ns for p in paths.values()]
    t0 = time.perf_counter()
    again = ensure_dataset(_cfg(tmp))
    assert again == paths and time.perf_counter() - t0 < 2
    assert [p.stat().st_mtime_ns for p in paths.values()] == mtimes
    assert not [p for p in paths["train"].parent.parent.iterdir() if p.name.startswith(".")]


def test_formats(default_paths):
    data = _load_all(default_paths[0])
    for item in data["train"]:
        assert set(item) == {"instruction", "input", "output"} and item["input"] == ""
    load_samples(default_paths[0]["train"])
    for split in ("val_seen", "test_unseen"):
        items = load_samples(default_paths[0][split], require_id=True)
        for item in items:
            assert item["tool"] == "none" or item["tool"] in CATALOG
            if item["tool"] == "none":
                assert item["output"].startswith("Thought: Do I need to use a tool? No\nAI: ")
            else:
                assert f"Action: {CATALOG[item['tool']].name}\n" in item["output"]
        kinds = {i["kind"] for i in items}
        assert kinds == {"tool", "final", "negative"}


def test_no_instruction_text_is_shared_between_splits(default_paths):
    data = _load_all(default_paths[0])
    texts = {}
    for split, items in data.items():
        found = [_NEW_INPUT.search(i["instruction"]) for i in items]
        assert all(found), split
        texts[split] = {m.group(1).strip().lower() for m in found}
    assert not texts["train"] & texts["val_seen"]
    assert not texts["train"] & texts["test_unseen"]
    assert not texts["val_seen"] & texts["test_unseen"]


def test_unseen_tools_never_appear_in_training(default_paths):
    data = _load_all(default_paths[0])
    for item in data["train"]:
        shown = set(_SHOWN.search(item["instruction"]).group(1).split(", "))
        assert not shown & UNSEEN_NAMES
        lines = {ln[2:].split(":", 1)[0] for ln in item["instruction"].splitlines() if ln.startswith("> ")}
        assert lines == shown
        actions = set(re.findall(r"^Action: (.*)$", item["instruction"] + item["output"], re.M))
        assert not actions & UNSEEN_NAMES
    test_tools = {i["chain_tool"] for i in data["test_unseen"]} - {"none"}
    assert {CATALOG[k].split for k in test_tools} == {"unseen"} and len(test_tools) == 4


def test_prompts_show_2_to_5_tools_with_the_right_tool_and_prerequisite(default_paths):
    data = _load_all(default_paths[0])
    two_step = 0
    for item in data["train"] + data["test_unseen"]:
        shown = _SHOWN.search(item["instruction"]).group(1).split(", ")
        assert 2 <= len(shown) <= 5 and len(set(shown)) == len(shown)
        m = re.search(r"^Action: (.*)\nAction Input: (.*)$", item["output"], re.M)
        if not m:
            continue
        spec = find_by_name(m.group(1))
        assert spec.name in shown
        if spec.prerequisite:
            assert CATALOG[spec.prerequisite].name in shown
            obs = re.findall(r"^Observation: (.*)$", item["instruction"], re.M)
            assert obs and m.group(2).startswith(obs[-1].rsplit(" ", 1)[-1] + ", ")  # the detector's output feeds it
            two_step += 1
        elif spec.needs_image:
            path = re.search(r"Provide an image named (\S+)\.", item["instruction"]).group(1)
            assert m.group(2).split(",")[0] == path
    assert two_step > 50


def test_final_step_repeats_the_last_observation(default_paths):
    for item in _load_all(default_paths[0])["val_seen"]:
        if item["kind"] == "final":
            last = re.findall(r"^Observation: (.*)$", item["instruction"], re.M)[-1]
            assert item["output"] == f"Thought: Do I need to use a tool? No\nAI: {last}\n"


def test_concurrent_callers_share_one_generation(tmp_path):
    code = ("import sys, json; from gpt4tools.utils.config import compose; from gpt4tools.data import ensure_dataset;"
            "p = ensure_dataset(compose('train', [f'paths.data_dir={sys.argv[1]}', 'data=small']));"
            "print(json.dumps({k: str(v) for k, v in p.items()}))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=180)[0].strip().splitlines()[-1]) for p in procs]
    assert outs[0] == outs[1]
    generated = list((tmp_path / "generated").iterdir())
    assert [p.name for p in generated if p.is_dir()] == [Path(outs[0]["train"]).parent.name]
    load_samples(outs[0]["val_seen"], require_id=True)


def _official(tmp_path) -> Path:
    prompt = "GPT4Tools can handle various text and visual tasks...\nNew input: segment it\n"
    out = "Thought: Do I need to use a tool? Yes\nAction: Segment the Image\nAction Input: image/abc.png\nObservation:\n"
    (tmp_path / "gpt4tools_71k.json").write_text(json.dumps([{"instruction": prompt, "input": "", "output": out}]))
    for name in ("gpt4tools_val_seen.json", "gpt4tools_test_unseen.json"):
        (tmp_path / name).write_text(json.dumps([{"id": 0, "instruction": prompt, "input": "", "output": out}]))
    return tmp_path


def test_official_files_load_unchanged_by_path(tmp_path):
    folder = _official(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    paths = ensure_dataset(_cfg(tmp_path, "data=official", f"data.official_dir={folder}"))
    assert paths == {"train": folder / "gpt4tools_71k.json", "val_seen": folder / "gpt4tools_val_seen.json",
                     "test_unseen": folder / "gpt4tools_test_unseen.json"}
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not (tmp_path / "generated").exists()


def test_malformed_files_name_the_file_and_item(tmp_path):
    folder = _official(tmp_path)
    bad = folder / "gpt4tools_val_seen.json"
    bad.write_text(json.dumps([{"id": 0, "instruction": "x", "input": "", "output": "y"},
                               {"id": 1, "instruction": "x", "input": ""}]))
    with pytest.raises(DataFormatError, match=r"gpt4tools_val_seen\.json: item 1 has no field 'output'"):
        ensure_dataset(_cfg(tmp_path, "data=official", f"data.official_dir={folder}"))
    bad.write_text(json.dumps([{"instruction": "x", "input": "", "output": "y"}]))
    with pytest.raises(DataFormatError, match="item 0 has no field 'id'"):
        load_samples(bad, require_id=True)
    bad.write_text("[{oops")
    with pytest.raises(DataFormatError, match="gpt4tools_val_seen.json: not valid JSON"):
        load_samples(bad)
    caps = tmp_path / "caps.json"
    caps.write_text(json.dumps([{"image_id": 1, "caption": "a dog [1, 2, 3, 4]"}, {"image_id": 2}]))
    with pytest.raises(DataFormatError, match=r"caps\.json: item 1 field 'caption'"):
        generate_dataset(_cfg(tmp_path, f"data.captions.val={caps}"))
    alp = tmp_path / "alpaca.json"
    alp.write_text(json.dumps([{"instruction": "hi", "input": "", "output": "hello"}, {"instruction": "x", "input": 3}]))
    with pytest.raises(DataFormatError, match=r"alpaca\.json: item 1 field 'output'"):
        generate_dataset(_cfg(tmp_path, f"data.alpaca=[{alp}]"))


def test_knobs(tmp_path):
    base = generate_dataset(_cfg(tmp_path, "data=small"))
    assert any(s.kind == "negative" for s in base.samples["train"])
    none = generate_dataset(_cfg(tmp_path, "data=small", "data.negatives_ratio=0", "data.context_samples=false",
                                 "data.max_tools=3"))
    assert not any(s.kind == "negative" for s in none.samples["train"])
    assert all(s.step == 0 and s.instruction.endswith("Let's think step by step.\n") for s in none.samples["train"])
    assert all(len(_SHOWN.search(s.instruction).group(1).split(", ")) <= 3 for s in none.samples["train"])
    multi = generate_dataset(_cfg(tmp_path, "data=small", "data.multi_turn=true", "data.multi_turn_prob=1.0"))
    assert sum("\nHuman: " in s.instruction.split("\nNew input: ")[0].split("AI: Received.")[-1]
               for s in multi.samples["train"]) > 20
    rand = generate_dataset(_cfg(tmp_path, "data=small", "data.context_mode=random", "data.negatives_ratio=0"))
    assert len({s.image_id + _NEW_INPUT.search(s.instruction).group(1) for s in rand.samples["train"]}) == \
        len(rand.samples["train"])  # one sample per chain


def test_final_steps_thins_closing_steps_in_train_only(tmp_path):
    every = generate_dataset(_cfg(tmp_path, "data=small", "data.final_steps=1.0", "data.negatives_ratio=0"))
    half = generate_dataset(_cfg(tmp_path, "data=small", "data.final_steps=0.5", "data.negatives_ratio=0"))
    def share(data):
        return sum(s.kind == "final" for s in data.samples["train"]) / len(data.samples["train"])

    assert share(half) < 0.8 * share(every)
    for split in ("val_seen", "test_unseen"):  # eval sets do not change
        assert [s.record() for s in half.samples[split]] == [s.record() for s in every.samples[split]]


def test_tool_aliases_rename_shown_tools_consistently_in_train_only(tmp_path):
    from gpt4tools.data.aliases import TOOL_ALIASES

    plain = generate_dataset(_cfg(tmp_path, "data=small", "data.negatives_ratio=0"))
    aliased = generate_dataset(_cfg(tmp_path, "data=small", "data.negatives_ratio=0", "data.tool_aliases=0.5"))
    alias_names = {a for names in TOOL_ALIASES.values() for a in names}
    renamed = 0
    for sample in aliased.samples["train"]:
        shown = _SHOWN.search(sample.instruction).group(1).split(", ")
        assert len(shown) == len(set(shown))
        steps = sample.instruction.rsplit("\nNew input:", 1)[-1] + sample.output
        called = re.findall(r"^Action: (.*)", steps, flags=re.M)
        assert set(called) <= set(shown)  # every action line uses the name its prompt shows
        renamed += any(name in alias_names for name in shown)
    assert renamed > 0.3 * len(aliased.samples["train"])
    for split in ("val_seen", "test_unseen"):  # eval sets keep the catalog names, unchanged
        assert [s.record() for s in aliased.samples[split]] == [s.record() for s in plain.samples[split]]
    # off (the default) hashes as before the option existed, so existing caches stay valid
    assert settings_hash(_cfg(tmp_path, "data.tool_aliases=0")) == settings_hash(_cfg(tmp_path))
    assert settings_hash(_cfg(tmp_path, "data.tool_aliases=0.5")) != settings_hash(_cfg(tmp_path))


def test_caption_boxes_drops_the_object_list_from_some_train_descriptions(tmp_path):
    box = re.compile(r"Description: [^\n]*\[\d+, \d+, \d+, \d+\][^\n]* Understand the image")
    plain = generate_dataset(_cfg(tmp_path, "data=small", "data.caption_boxes=1.0"))
    half = generate_dataset(_cfg(tmp_path, "data=small", "data.caption_boxes=0.5"))

    def boxed_share(samples):
        uploads = [s for s in samples if "Provide an image named" in s.instruction]
        return sum(bool(box.search(s.instruction)) for s in uploads) / len(uploads)

    assert boxed_share(plain.samples["train"]) > 0.95  # (a few seed captions list no boxes)
    assert 0.3 < boxed_share(half.samples["train"]) < 0.7
    assert all(" Understand the image using tools." in s.instruction for s in half.samples["train"]
               if "Provide an image named" in s.instruction)
    for split in ("val_seen", "test_unseen"):  # eval sets keep the boxes (Crop Image reads its box there)
        assert [s.record() for s in half.samples[split]] == [s.record() for s in plain.samples[split]]
    assert settings_hash(_cfg(tmp_path, "data.caption_boxes=1.0")) != settings_hash(_cfg(tmp_path))


def test_aliases_exist_for_seen_tools_only_and_name_no_catalog_tool():
    from gpt4tools.data.aliases import TOOL_ALIASES

    assert set(TOOL_ALIASES) == {k for k, s in CATALOG.items() if s.split == "seen"}
    catalog_names = {s.name.lower() for s in CATALOG.values()}
    unseen = [s.name.lower() for s in CATALOG.values() if s.split == "unseen"]
    for names in TOOL_ALIASES.values():
        assert len(names) == len(set(names)) >= 2
        for name in names:
            assert name.lower() not in catalog_names
            assert not any(u in name.lower() for u in unseen) and "crop" not in name.lower(), name


def test_deterministic_and_hash_tracks_settings(tmp_path):
    a = generate_dataset(_cfg(tmp_path, "data=small"))
    b = generate_dataset(_cfg(tmp_path, "data=small"))
    assert [s.record() for s in a.samples["train"]] == [s.record() for s in b.samples["train"]]
    c = generate_dataset(_cfg(tmp_path, "data=small", "seed=7"))
    assert [s.record() for s in a.samples["train"]] != [s.record() for s in c.samples["train"]]
    h = settings_hash(_cfg(tmp_path))
    assert h == settings_hash(_cfg(tmp_path, "data.train_file=null"))
    assert h != settings_hash(_cfg(tmp_path, "data.negatives_ratio=0.1"))
    assert h != settings_hash(_cfg(tmp_path, "+tools.exclude.Text2Image=true"))
    assert dataset_dir(_cfg(tmp_path)).parent == tmp_path / "generated"


def test_tool_subset_and_custom_test_tools(tmp_path):
    data = generate_dataset(_cfg(tmp_path, "data=small", "+tools.exclude.Text2Image=true",
                                 "data.test_tools=[ImageCropping,Text2Image]"))
    train_tools = {s.chain_tool for s in data.samples["train"]}
    assert "Text2Image" not in train_tools and "ImageCropping" not in train_tools
    assert {s.chain_tool for s in data.samples["test_unseen"]} - {"none"} == {"ImageCropping", "Text2Image"}


def test_entry_point_writes_splits_report_and_plot(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "gpt4tools.data", "data=small", f"hydra.run.dir={tmp_path}"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    for name in ("train.json", "val_seen.json", "test_unseen.json", "report.json", "raw_train.jsonl",
                 "tool_distribution.png"):
        assert (tmp_path / name).is_file(), name
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["splits"]["train"]["total"] == 200 and "no_tool_call" in report["drops"]["train"]["reasons"]
    assert "samples per tool" in run.stdout and "dropped, by reason" in run.stdout


def test_asking_for_every_tool_drops_the_others_with_a_reason(tmp_path):
    data = generate_dataset(_cfg(tmp_path, "data=small", "data.request_tools=all"))
    assert data.reports["train"].counts["tool_not_in_split"] >= 4 * 100  # the 4 held-out tools, per caption
    assert data.reports["test_unseen"].counts["tool_not_in_split"] > 0
    assert {s.chain_tool for s in data.samples["train"]} & {"ImageCropping", "TextDetection"} == set()
    reasons = set(data.reports["train"].counts)
    assert {"unknown_tool", "no_tool_call"} <= reasons  # the offline teacher's injected noise is caught
