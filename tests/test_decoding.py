"""Continuous-batch greedy decoding against model.generate, item by item."""

import pytest
import torch

from gpt4tools.decoding import iter_ragged_greedy, supports_ragged_model
from gpt4tools.inference import Generator
from gpt4tools.stops import StopStrings

INSTRUCTIONS = ["Segment the dog.", "What is in the picture of the beach at sunset? Describe it in detail.", "Hi",
                "Draw a cat", "Remove the red car from image/abc.png and then describe what is left in the picture",
                "ok", "Generate an image of a castle at night"]


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_ragged_equals_generate_one_by_one(tiny_model, smollm2_tokenizer, batch_size):
    hf = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=9, batch_size=1, engine="hf")
    ragged = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=9, batch_size=batch_size,
                       engine="ragged")
    assert ragged._use_ragged() and not hf._use_ragged()
    assert ragged.generate(INSTRUCTIONS) == hf.generate(INSTRUCTIONS)


def test_rows_end_at_eos_and_at_stop_strings(tiny_model, smollm2_tokenizer):
    tok = smollm2_tokenizer
    prompts = [tok(p)["input_ids"] for p in ("a photo of a dog", "segment the cat in image/x.png", "hello there")]
    free = dict(iter_ragged_greedy(tiny_model, prompts, max_new_tokens=6, eos_token_ids=[], max_batch=2))
    assert all(len(free[i]) == 6 for i in range(3))  # no stop: max_new_tokens each
    # the first generated token as EOS: that row ends empty, the others are unchanged where they do not emit it
    eos = free[0][0]
    ended = dict(iter_ragged_greedy(tiny_model, prompts, max_new_tokens=6, eos_token_ids=[eos], max_batch=2))
    assert ended[0] == []
    for i in (1, 2):
        expected = free[i][: free[i].index(eos)] if eos in free[i] else free[i]
        assert ended[i] == expected
    # a stop string made of row 1's third token ends that row right after it
    stop = tok.decode(free[1][2:3])
    stopped = dict(iter_ragged_greedy(tiny_model, prompts, max_new_tokens=6, eos_token_ids=[], stops=StopStrings([stop]),
                                      tokenizer=tok, max_batch=3))
    assert stopped[1] == free[1][: len(stopped[1])] and len(stopped[1]) <= 3
    assert stop in tok.decode(stopped[1])


def test_unsupported_cache_falls_back_to_generate(tiny_model, smollm2_tokenizer, monkeypatch):
    import gpt4tools.decoding as decoding

    monkeypatch.setattr(decoding, "supports_ragged_model", lambda model: False)
    gen = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=5, batch_size=2)
    assert not gen._use_ragged()
    hf = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=5, batch_size=2, engine="hf")
    assert gen.generate(INSTRUCTIONS[:3]) == hf.generate(INSTRUCTIONS[:3])


def test_full_attention_models_qualify(tiny_model):
    assert supports_ragged_model(tiny_model)


def test_sampling_uses_generate(tiny_model, smollm2_tokenizer):
    torch.manual_seed(0)
    gen = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=4, do_sample=True)
    assert not gen._use_ragged()
    assert len(gen.generate(["Hi"])) == 1
