"""Shared generation: stop strings, batching order, left padding equivalence."""

import torch

from gpt4tools.inference import Generator, cut_at_stop


def test_cut_at_stop_takes_the_earliest():
    assert cut_at_stop("a\nObservation: b<|im_end|>", ["<|im_end|>", "\nObservation:"]) == "a"
    assert cut_at_stop("plain", ["\nObservation:"]) == "plain"


def test_batched_generation_equals_one_by_one(tiny_model, smollm2_tokenizer):
    torch.manual_seed(0)
    gen = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=8, batch_size=3)
    instructions = ["Segment the dog.", "What is in the picture of the beach at sunset?", "Hi", "Draw a cat"]
    batched = gen.generate(instructions)
    single = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=8, batch_size=1).generate(instructions)
    assert batched == single
    assert len(batched) == 4


def test_batches_group_by_length():
    gen = Generator.__new__(Generator)
    gen.batch_size = 2
    assert list(Generator.batches(gen, ["aaaa", "a", "aaa", "aa"])) == [[0, 2], [3, 1]]


def test_stream_yields_the_same_text_as_generate(tiny_model, smollm2_tokenizer):
    gen = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=12, batch_size=1)
    for instruction in ("Segment the dog.", "Hi"):
        pieces = list(gen.stream(instruction))
        assert "".join(pieces) == gen.generate([instruction])[0]


def test_stream_holds_back_a_partial_stop_string():
    from gpt4tools.inference import _partial_stop_len

    assert _partial_stop_len("Action Input: a\nObserv", ["\nObservation:"]) == len("\nObserv")
    assert _partial_stop_len("done.", ["\nObservation:"]) == 0
