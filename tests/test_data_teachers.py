"""The offline teacher's variety and determinism, the local transformers teacher, and hf tokenization caching."""

from __future__ import annotations

import json
import re

from gpt4tools.catalog import CATALOG
from gpt4tools.data.clean import normalize_text
from gpt4tools.data.io import load_captions
from gpt4tools.data.parse import DropReport, ReplyParser
from gpt4tools.data.pipeline import SEED_DIR
from gpt4tools.data.teachers.base import TeacherRequest
from gpt4tools.data.teachers.offline import OfflineTeacher


def _requests(n=40):
    caps = load_captions(SEED_DIR / "captions_train.json")[:n]
    return [TeacherRequest(c["image_id"], c["caption"], tuple(CATALOG)) for c in caps], caps


def test_offline_teacher_is_deterministic_and_parsable():
    reqs, _ = _requests()
    a = OfflineTeacher(seed=3).complete(reqs)
    assert a == OfflineTeacher(seed=3).complete(reqs)
    assert a != OfflineTeacher(seed=4).complete(reqs)
    report = DropReport()
    insts = [i for r, rep in zip(reqs, a) for i in ReplyParser().parse_reply(r.image_id, rep, report)]
    assert len(insts) >= 0.95 * len(reqs) * len(CATALOG)
    assert set(report.counts) <= {"no_tool_call", "unknown_tool", "bad_arguments", "bad_image_argument"}  # injected noise


def test_offline_instructions_are_varied_and_use_the_caption():
    reqs, caps = _requests(80)
    report = DropReport()
    replies = OfflineTeacher(seed=0, noise=0).complete(reqs)
    insts = [i for r, rep in zip(reqs, replies) for i in ReplyParser().parse_reply(r.image_id, rep, report)]
    assert not report.counts
    by_tool = {}
    for inst in insts:
        by_tool.setdefault(inst.tool, []).append(inst)
    caption_of = {c["image_id"]: c for c in caps}
    for key, items in by_tool.items():
        texts = {normalize_text(i.instruction) for i in items}
        assert len(texts) >= 0.9 * len(items), key
        # the opening words vary: many distinct 3-word starts per tool
        assert len({" ".join(t.split()[:3]) for t in texts}) >= 12, key
    for inst in by_tool["Text2Box"] + by_tool["ObjectSegmenting"] + by_tool["ImageRemoving"]:
        names = [o[0] for o in caption_of[inst.image_id]["objects"]]
        assert inst.args[1] in names and inst.args[1] in inst.instruction
    for inst in by_tool["ImageCropping"]:
        boxes = [str(o[1]) for o in caption_of[inst.image_id]["objects"]]
        assert inst.args[1] in boxes


def test_teacher_prompt_is_the_original_form():
    req = TeacherRequest("1", "A dog. dog [1, 2, 3, 4]", ("Text2Box", "ImageCropping"))
    text = req.prompt()
    assert 'image_path is "example.jpg"' in text and 'Image caption: "A dog. dog [1, 2, 3, 4]"' in text
    assert "1. Detect the Give Object: " in text and "2. Crop Image: " in text
    assert "instruction_content, [tool_name, arguments_to_tool]" in text
    assert req.messages() == [{"role": "system", "content": text}]


def test_local_hf_teacher_generates_batched_and_caches(tiny_model, smollm2_tokenizer, tmp_path):
    from gpt4tools.data.teachers.hf_local import HFTeacher

    kw = {"model": tiny_model, "tokenizer": smollm2_tokenizer, "batch_size": 2, "max_new_tokens": 8,
          "do_sample": False, "progress": False, "cache_dir": str(tmp_path / "cache")}
    teacher = HFTeacher(**kw)
    reqs = [TeacherRequest(str(i), f"A cat number {i}. cat [1, 2, 3, 4]", ("ImageCaptioning",)) for i in range(3)]
    out = teacher.complete(reqs)
    assert len(out) == 3 and all(isinstance(o, str) for o in out)
    assert teacher.usage_summary()["requests"] == 3 and teacher.usage_summary()["completion_tokens"] > 0
    report = DropReport()
    for r, o in zip(reqs, out):  # random weights: whatever came back is parsed and every line accounted for
        ReplyParser().parse_reply(r.image_id, o, report)
    assert report.dropped == sum(1 for o in out for line in o.splitlines() if line.strip())
    again = HFTeacher(**kw)
    assert again.complete(reqs) == out and again.usage_summary()["cached"] == 3
    assert again.usage_summary()["completion_tokens"] == 0


def test_tokenized_dataset_is_cached(tmp_path, smollm2_tokenizer):
    from gpt4tools.data.hf import load_hf_dataset, tokenize_dataset

    path = tmp_path / "train.json"
    items = [{"instruction": f"New input: hello {i}", "input": "", "output": "Thought: Do I need to use a tool? No\nAI: hi\n"}
             for i in range(8)]
    path.write_text(json.dumps(items))
    ds = load_hf_dataset(path, cache_dir=str(tmp_path / "hf"))
    tok = tokenize_dataset(ds, smollm2_tokenizer, "chatml", max_length=64)
    assert set(tok.column_names) == {"input_ids", "labels", "length"} and len(tok) == 8
    assert tok[0]["labels"][0] == -100 and tok[0]["labels"][-1] != -100
    again = tokenize_dataset(load_hf_dataset(path, cache_dir=str(tmp_path / "hf")), smollm2_tokenizer, "chatml",
                             max_length=64)
    assert again.cache_files and again.cache_files[0]["filename"] == tok.cache_files[0]["filename"]
    assert re.search(r"cache-\w+\.arrow", tok.cache_files[0]["filename"])


def test_replay_teacher_reproduces_a_run_from_its_raw_replies(tmp_path):
    from gpt4tools.data.pipeline import generate_dataset, write_dataset
    from gpt4tools.utils.config import compose

    first = generate_dataset(compose("generate_data", ["data=small", f"paths.data_dir={tmp_path}"]))
    write_dataset(first, tmp_path / "run")
    raw = [str(tmp_path / "run" / f"raw_{s}.jsonl") for s in ("train", "val_seen", "test_unseen")]
    again = generate_dataset(compose("generate_data", ["data=small", "teacher=replay", f"teacher.paths=[{','.join(raw)}]"]))
    for split in first.samples:
        assert [s.record() for s in again.samples[split]] == [s.record() for s in first.samples[split]]
        assert again.reports[split].counts == first.reports[split].counts


def test_replay_teacher_reads_the_original_instruction_file_and_names_missing_images(tmp_path):
    import pytest

    from gpt4tools.data.io import DataFormatError
    from gpt4tools.data.teachers.replay import ReplayTeacher

    path = tmp_path / "instructions.json"
    path.write_text(json.dumps([{"file_name": "000001.jpg", "caption": "A dog. dog [1, 2, 3, 4]",
                                 "instructions": '1. "Segment this picture of a dog", [Segment the Image, example.jpg]'}]))
    teacher = ReplayTeacher(path)
    assert "Segment the Image" in teacher.complete([TeacherRequest("000001.jpg", "A dog.", ("Segmenting",))])[0]
    with pytest.raises(DataFormatError, match=r"instructions\.json: no saved reply for image\(s\) 42"):
        teacher.complete([TeacherRequest("42", "x", ("Segmenting",))])


def test_heldout_templates_never_reach_training(monkeypatch):
    from gpt4tools.data.teachers import phrases as P

    pool = [(f"~segment {{img}} with style number {k}", ()) for k in range(10)]
    monkeypatch.setitem(P.TEMPLATES, "Segmenting", pool)
    reqs, _ = _requests(60)
    teacher = OfflineTeacher(seed=1, noise=0, heldout_templates=0.3)
    assert len(teacher.templates("Segmenting", train=True)) == 7
    used = {}
    for split in ("train", "val_seen"):
        replies = teacher.complete([TeacherRequest(r.image_id, r.caption, ("Segmenting",), split=split) for r in reqs])
        used[split] = {int(m) for rep in replies for m in re.findall(r"style number (\d)", rep)}
    assert used["train"] <= set(range(7)) and used["val_seen"] & {7, 8, 9}


def test_teachers_are_built_from_their_target(tmp_path):
    """train.py's missing teacher node, +teacher=offline and a bare option are one offline teacher and one
    dataset cache; ``cache_dir: null`` means <paths.cache_dir>/teacher; the old ``kind:`` is refused."""
    import pytest

    from gpt4tools.data.pipeline import settings_hash
    from gpt4tools.data.teachers import build_teacher
    from gpt4tools.data.teachers.openai_compat import OpenAITeacher
    from gpt4tools.utils.config import compose

    base = [f"paths.data_dir={tmp_path}", f"paths.cache_dir={tmp_path / 'cache'}", "seed=7"]
    bare = compose("train", base)
    teacher = build_teacher(bare)
    assert isinstance(teacher, OfflineTeacher) and (teacher.seed, teacher.noise) == (7, 0.03)
    assert settings_hash(compose("train", [*base, "+teacher=offline"])) == settings_hash(bare)
    held = compose("train", [*base, "+teacher.heldout_templates=0.3"])
    assert build_teacher(held).heldout_templates == 0.3
    assert settings_hash(held) == settings_hash(compose("train", [*base, "+teacher=offline",
                                                                  "teacher.heldout_templates=0.3"]))
    assert settings_hash(held) != settings_hash(bare)
    endpoint = build_teacher(compose("generate_data", [*base, "teacher=openai", "teacher.cache_dir=null"]))
    assert isinstance(endpoint, OpenAITeacher) and endpoint.cache.folder == tmp_path / "cache" / "teacher"
    with pytest.raises(ValueError, match="teacher.kind is no longer read"):
        build_teacher(compose("train", [*base, "+teacher.kind=offline"]))
