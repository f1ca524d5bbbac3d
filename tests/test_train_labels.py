"""Loss only on targets: prompt tokens carry -100, every target token (end marker included) is supervised."""

import json

import pytest
from training_helpers import make_items

from gpt4tools.prompt import CHAT_TEMPLATES, IGNORE_INDEX, get_chat_template
from gpt4tools.training.samples import DatasetError, read_samples, tokenize_samples


@pytest.mark.parametrize("name", sorted(CHAT_TEMPLATES))
def test_prompt_masked_targets_supervised(name, smollm2_tokenizer):
    tok = smollm2_tokenizer
    template = get_chat_template(name)
    items = make_items(6, seed=3)
    for item, sample in zip(items, tokenize_samples(items, tok, name, 2048)):
        prompt, target = template.render_prompt(item["instruction"]), template.render_target(item["output"], tok.eos_token)
        n_prompt = len(tok(prompt, add_special_tokens=True)["input_ids"])
        target_ids = tok(target, add_special_tokens=False)["input_ids"]
        if template.end is None and target_ids[-1] != tok.eos_token_id:
            target_ids = [*target_ids, tok.eos_token_id]
        assert sample.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
        assert sample.labels[n_prompt:] == target_ids == sample.input_ids[n_prompt:]
        assert IGNORE_INDEX not in sample.labels[n_prompt:]
        end_id = tok.eos_token_id if template.end is None else tok(template.end, add_special_tokens=False)["input_ids"][-1]
        assert sample.labels[-1] == end_id  # the end marker is learned, so generation stops
        assert tok.decode(sample.labels[n_prompt:]).startswith(template.target_prefix + item["output"][:10])


def test_dataset_without_targets_names_file_and_item(tmp_path):
    path = tmp_path / "train.json"
    items = make_items(3)
    items[2]["output"] = "  "
    path.write_text(json.dumps(items))
    with pytest.raises(DatasetError, match=r"train\.json: item 2 .*no target"):
        read_samples(path)
    path.write_text(json.dumps([{"instruction": "x", "input": ""}]))
    with pytest.raises(DatasetError, match="item 0"):
        read_samples(path)
    with pytest.raises(DatasetError, match="not found"):
        read_samples(tmp_path / "missing.json")


def test_long_prompts_are_cut_from_the_left_targets_kept(smollm2_tokenizer):
    items = make_items(2)
    samples = tokenize_samples(items, smollm2_tokenizer, "chatml", 128)
    assert all(len(s) == 128 and s.num_targets > 5 and s.labels[-1] != IGNORE_INDEX for s in samples)
