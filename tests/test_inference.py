"""Shared generation: the one stop-string rule, batching order, left padding equivalence."""

import torch

from gpt4tools.inference import Generator
from gpt4tools.stops import StopStrings


def test_stops_cut_at_the_earliest():
    stops = StopStrings(["<|im_end|>", "\nObservation:"])
    assert stops.cut("a\nObservation: b<|im_end|>") == "a"
    assert stops.cut("plain") == "plain" and stops.position("plain") is None


def test_a_step_stops_at_its_observation_the_end_of_turn_and_the_extras():
    assert list(StopStrings.for_step("chatml", ["\nHuman:", "<|im_end|>"])) == ["\nObservation:", "<|im_end|>",
                                                                             "\nHuman:"]
    assert list(StopStrings.for_step(None)) == ["\nObservation:"]
    gen = Generator.__new__(Generator)
    gen.template, gen.stop, gen.tokenizer = "vicuna_v1_1", ["\nHuman:"], type("T", (), {"pad_token": "x"})()
    Generator.__post_init__(gen)
    assert "\nObservation:" in gen.stops and "\nHuman:" in gen.stops


def test_a_row_stops_when_its_decoded_tail_holds_a_stop(smollm2_tokenizer):
    tok = smollm2_tokenizer
    stops = StopStrings(["\nObservation:"])
    assert stops.in_tokens(tok("Action Input: a.png\nObservation: b")["input_ids"], tok)
    assert not stops.in_tokens(tok("Action Input: a.png\nObserv")["input_ids"], tok)
    assert not StopStrings().in_tokens(tok("x")["input_ids"], tok)


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
    stops = StopStrings(["\nObservation:"])
    assert stops.pending("Action Input: a\nObserv") == len("\nObserv")
    assert stops.pending("done.") == 0
