"""The prompt module: GPT4Tools text, steps read back by the shared parser, chat templates and loss masking."""

import random

import pytest

from gpt4tools.catalog import get_tool, select_tools
from gpt4tools.prompt import (
    CHAT_TEMPLATES,
    IGNORE_INDEX,
    continue_after_observation,
    encode_sample,
    final_step,
    image_upload_turn,
    random_image_name,
    render_prompt,
    split_sample,
    tool_step,
)
from gpt4tools.react import parse_step


def test_render_prompt_shows_only_given_tools():
    tools = [get_tool("Text2Box"), get_tool("ImageCaptioning")]
    text = render_prompt(tools, "find the dog", image_upload_turn("image/abcdefgh.png", "A dog."))
    assert "> Detect the Give Object: useful when" in text
    assert "should be one of [Detect the Give Object, Get Photo Description]" in text
    assert "Segment the Image" not in text
    assert "Human: Provide an image named image/abcdefgh.png. Description: A dog. Understand the image using tools.\nAI: Received." in text
    assert text.rstrip().endswith("New input: find the dog\nGPT4Tools needs to use tools to observe images, not directly imagine them. Thoughts and observations in the conversation are only visible to GPT4Tools. When answering human questions, repeat important information. Let's think step by step.")


def test_steps_round_trip_through_the_parser():
    step = parse_step(tool_step("Segment the Image", "image/a.png") + " image/b.png\n")
    assert (step.thought, step.action, step.action_input) == ("Yes", "Segment the Image", "image/a.png")
    final = parse_step(final_step("It is a cat."))
    assert final.thought == "No" and final.answer == "It is a cat." and not final.uses_tool
    garbage = parse_step("I think maybe")
    assert garbage.thought is None and garbage.action is None


def test_a_second_thought_after_an_answer_is_not_part_of_the_step():
    """An answer followed by an invented tool call answers; the invented call is never run."""
    text = final_step("A haiku about rain.") + "\n" + tool_step("Pose Detection On Image", "image/a.png")
    step = parse_step(text)
    assert step.thought == "No" and step.action is None and step.answer == "A haiku about rain."
    # one step's own lines are all kept
    call = parse_step(tool_step("Segment the Image", "image/a.png") + " image/b.png\n" + final_step("done"))
    assert (call.action, call.action_input) == ("Segment the Image", "image/a.png")


def test_context_continuation_matches_the_original_layout():
    text = continue_after_observation("P\n", tool_step("Edge Detection On Image", "a.png"), "Result saved as b.png")
    assert text == "P\nThought: Do I need to use a tool? Yes\nAction: Edge Detection On Image\nAction Input: a.png\nObservation: Result saved as b.png\n"


def test_random_image_name_is_in_the_original_style():
    rng = random.Random(0)
    names = {random_image_name(rng) for _ in range(200)}
    assert all(n.endswith(".png") and len(n.split("/")[-1]) == 12 for n in names)
    assert {n.split("/")[0] for n in names if "/" in n} == {"image", "images", "examples", "cache"}


def test_vicuna_wrap_is_the_gpt4tools_v11_style():
    prompt, target = split_sample("vicuna_v1_1", "INSTR", "OUT")
    assert prompt + target == "USER: INSTRASSISTANT: OUT</s>"


@pytest.mark.parametrize("template", sorted(CHAT_TEMPLATES))
def test_loss_mask_covers_exactly_the_target(smollm2_tokenizer, template):
    tok = smollm2_tokenizer
    instruction = render_prompt(select_tools("seen")[:3], "segment the cat")
    output = tool_step("Segment the Image", "image/abcdefgh.png")
    enc = encode_sample(tok, template, instruction, output)
    assert len(enc.input_ids) == len(enc.labels)
    n_prompt = enc.labels.index(next(t for t in enc.labels if t != IGNORE_INDEX))
    assert all(t == IGNORE_INDEX for t in enc.labels[:n_prompt])
    assert enc.labels[n_prompt:] == enc.input_ids[n_prompt:]
    decoded_target = tok.decode(enc.input_ids[n_prompt:])
    assert "Action: Segment the Image" in decoded_target
    # The end-of-turn token (EOS for raw) is a supervised target token.
    end_ids = tok(CHAT_TEMPLATES[template].end or tok.eos_token, add_special_tokens=False)["input_ids"]
    assert enc.labels[-len(end_ids):] == end_ids


def test_long_prompts_are_cut_from_the_left(smollm2_tokenizer):
    enc = encode_sample(smollm2_tokenizer, "chatml", "word " * 500, "Thought: Do I need to use a tool? No\nAI: ok\n",
                        max_length=64)
    assert len(enc.input_ids) == 64 and enc.num_target_tokens > 5
