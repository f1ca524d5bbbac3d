"""The strict scorer: schema-parsed arguments (commas inside text), exact paths, missing = failure."""

import pytest

from gpt4tools.evaluation.compat import score_compat
from gpt4tools.evaluation.strict import score_strict, text_similarity
from gpt4tools.prompt import final_step, tool_step

VQA = "Answer Question About The Image"


def test_commas_inside_text_arguments():
    gt = tool_step(VQA, "image/abc.png, is the cup red, blue, or green?")
    pred = tool_step(VQA, "image/abc.png, is the cup red, blue, or green?")
    s = score_strict(gt, pred)
    assert (s.thought, s.action, s.args, s.success, s.iou) == (1.0, 1.0, 1.0, 1.0, 1.0)
    # the original's comma split fails the same prediction once the comma count differs
    assert score_compat(gt, tool_step(VQA, "image/abc.png, is the cup red blue or green?")).args == 0.0
    assert score_strict(gt, tool_step(VQA, "image/abc.png, is the cup red blue or green?")).success == 1.0


def test_replace_has_two_texts_and_box_arguments_match_exactly():
    gt = tool_step("Replace Something From The Photo", "image/a.png, the dog, a cat, black")
    assert score_strict(gt, gt).args == 1.0
    crop = tool_step("Crop Image", "image/a.png, [1, 2, 3, 4]")
    assert score_strict(crop, tool_step("Crop Image", "image/a.png, [1,2,3,4]")).args == 1.0
    assert score_strict(crop, tool_step("Crop Image", "image/a.png, [1, 2, 3, 5]")).args == 0.0


def test_image_path_must_be_exact():
    gt = tool_step("Segment the given object", "image/abc.png, the dog")
    s = score_strict(gt, tool_step("Segment the given object", "image/zzz.png, the dog"))
    assert s.args == 0.0 and s.success == 0.0
    assert score_compat(gt, tool_step("Segment the given object", "image/zzz.png, the dog")).success == 1.0


def test_text_similarity_is_documented_token_sort_ratio():
    assert text_similarity("The red dog.", "dog red the") == 1.0
    assert text_similarity("a dog", "a cat") == pytest.approx(0.4)  # indel ratio: 2 * 2 common / 10 chars
    gt = tool_step("Segment the given object", "image/a.png, a dog")
    s = score_strict(gt, tool_step("Segment the given object", "image/a.png, a cat"))
    assert s.args == pytest.approx((1.0 + 0.4) / 2) and s.success == 0.0  # every argument must reach 0.5
    assert score_compat(gt, tool_step("Segment the given object", "image/a.png, a cat")).success == 1.0
    assert score_strict(gt, tool_step("Segment the given object", "image/a.png, the dog")).success == 1.0


def test_unparsable_arguments_and_output_fail_without_crashing():
    gt = tool_step("Segment the given object", "image/a.png, the dog")
    assert score_strict(gt, tool_step("Segment the given object", "image/a.png")).args == 0.0
    for junk in ["", "Action Input:", "\x00\x01", "Thought: Do I need to use a tool? Yes\nAction:"]:
        assert score_strict(gt, junk).success == 0.0


def test_only_the_first_step_counts():
    gt = tool_step("Segment the Image", "image/a.png")
    pred = gt + " image/b.png\n" + tool_step("Detection", "image/b.png")
    assert score_strict(gt, pred).success == 1.0


def test_no_tool_items_and_missing_predictions():
    gt = final_step("Hi.")
    assert score_strict(gt, "Thought: Do I need to use a tool? No\nAI: hello").success == 1.0
    assert score_strict(gt, "Thought: Do I need to use a tool? No\nAI: ").success == 0.0
    assert score_strict(gt, "Thought: Do I need to use a tool? No\nAction: x\nAI: y").success == 0.0
    # an answer, then an invented tool step: the agent answers, and so does strict; compat keeps every step
    rambling = final_step("hello") + "\n" + tool_step("Segment the Image", "image/a.png")
    assert score_strict(gt, rambling).success == 1.0
    assert score_compat(gt, rambling).success == 0.0
    s = score_strict(tool_step("Segment the Image", "image/a.png"), None, "id9")
    assert s.missing and s.success == 0.0 and s.gt_tool == "Segment the Image"


def test_unknown_tool_gets_a_guessed_schema():
    gt = tool_step("Count Objects", "image/a.png, the red, cars")
    assert score_strict(gt, tool_step("Count Objects", "image/a.png, the red, cars")).success == 1.0
    assert score_strict(gt, tool_step("Count Objects", "image/b.png, the red, cars")).success == 0.0
