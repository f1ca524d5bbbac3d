"""The compat scorer: every rule of the original evaluate_result.py, by hand-computed cases and BLEU parity."""

import math
import random

import pytest

from gpt4tools.evaluation.bleu import bleu1
from gpt4tools.evaluation.compat import GroundTruthError, argument_step_score, score_compat
from gpt4tools.prompt import final_step, tool_step

BP_EQ = math.exp(1 - 1 / ((2 + 1e-15) / (2 + 1e-9)))  # brevity "penalty" of equal lengths (2 words)


def bleu_ref(ref: str, hyp: str) -> float:
    """pycocoevalcap's own number (the original scorer's dependency), when installed."""
    bleu = pytest.importorskip("pycocoevalcap.bleu.bleu")
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return bleu.Bleu(n=1).compute_score({1: [ref]}, {1: [hyp]})[0][0]


def test_bleu1_hand_values():
    # 1 of 2 hypothesis words match, same length as the reference: (1 + tiny) / (2 + small) * BP(ratio < 1)
    assert bleu1("a dog", "a cat") == pytest.approx((1 + 1e-15) / (2 + 1e-9) * BP_EQ, abs=1e-15)
    # hypothesis shorter than the reference: brevity penalty exp(1 - 3/1)
    assert bleu1("red big dog", "dog") == pytest.approx(math.exp(1 - 3), rel=1e-8)
    assert bleu1("", "") == 0.0 and bleu1("dog", "") == 0.0
    assert bleu1("dog dog", "dog dog dog") == pytest.approx(2 / 3, rel=1e-8)  # clipped counts, no penalty
    assert bleu1("a b", "a b") < 1.0  # the package's smoothing: an exact match is 0.99999...


def test_bleu1_parity_with_pycocoevalcap_on_generated_cases():
    rng = random.Random(0)
    vocab = ["a", "dog", "cat", "the", "red", "car", "image/x.png", ",", "Dog", "on", "sofa"]
    for _ in range(300):
        ref = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 7)))
        hyp = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 7)))
        if rng.random() < 0.3:
            hyp = "  " + hyp.replace(" ", "\t ") + " "
        assert bleu1(ref, hyp) == bleu_ref(ref, hyp), (ref, hyp)


GT_TOOL = tool_step("Detect the Give Object", "image/abc.png, the red dog")
GT_NO = final_step("Hello there.")


def test_perfect_tool_step():
    s = score_compat(GT_TOOL, GT_TOOL.strip())
    assert (s.thought, s.action, s.success) == (1.0, 1.0, 1.0)
    assert s.args == pytest.approx((1.0 + bleu1(" the red dog", " the red dog")) / 2)
    assert s.iou == pytest.approx((2 + s.args) / 3)


def test_png_rules():
    # gt has .png, prediction not -> the step's args score 0 (success fails)
    s = score_compat(GT_TOOL, tool_step("Detect the Give Object", "abc, the red dog"))
    assert s.args == 0.0 and s.success == 0.0
    # both have .png -> 1 even for different paths
    s = score_compat(GT_TOOL, tool_step("Detect the Give Object", "cache/zzz.png, the red dog"))
    assert s.args == pytest.approx((1 + bleu1("the red dog", "the red dog")) / 2) and s.success == 1.0
    # gt text argument without .png is BLEU-scored even if the prediction holds .png
    assert argument_step_score("a.png, dog", "a.png, dog.png") == pytest.approx((1 + 0.0) / 2)


def test_comma_split_count_mismatch_scores_zero():
    gt = tool_step("Answer Question About The Image", "image/a.png, is it red, or blue?")
    pred = tool_step("Answer Question About The Image", "image/a.png, is it red or blue?")
    s = score_compat(gt, pred)
    assert s.args == 0.0 and s.success == 0.0 and s.thought == 1.0 and s.action == 1.0


def test_threshold_half():
    gt = tool_step("Generate Image From User Input Text", "one two three four")
    half = score_compat(gt, tool_step("Generate Image From User Input Text", "one two five six"))
    assert half.args == pytest.approx(0.5 * math.exp(1 - (4 + 1e-9) / (4 + 1e-15)))
    assert half.args < 0.5 and half.success == 0.0  # the smoothing keeps 2/4 just under 0.5
    better = score_compat(gt, tool_step("Generate Image From User Input Text", "one two three six"))
    assert better.args >= 0.5 and better.success == 1.0


def test_wrong_action_and_thought():
    s = score_compat(GT_TOOL, tool_step("Segment the Image", "image/abc.png"))
    assert s.action == 0.0 and s.args == 0.0 and s.success == 0.0 and s.pred_tool == "Segment the Image"
    s = score_compat(GT_TOOL, GT_TOOL.replace("? Yes", "? yes"))
    assert s.thought == 0.0 and s.action == 1.0 and s.success == 0.0


def test_trailing_no_is_forgiven_but_not_a_second_tool_call():
    hallucinated = GT_TOOL + " image/q.png\nThought: Do I need to use a tool? No\nAI: done"
    s = score_compat(GT_TOOL, hallucinated)
    assert s.thought == 1.0 and s.success == 1.0
    two_calls = GT_TOOL + " x\n" + tool_step("Segment the Image", "image/abc.png")
    s = score_compat(GT_TOOL, two_calls)
    assert s.thought == 0.5 and s.action == 0.5 and s.success == 0.0  # extra positions count 0
    # IoU: extra predicted positions are 0 on both sides of max(res, gt), so they do not lower it
    assert s.iou == pytest.approx((1 + 1 + 2 * s.args) / 3)


def test_missing_parts_and_unparsable_output():
    s = score_compat(GT_TOOL, "I would detect the dog.")
    assert (s.thought, s.action, s.args, s.success, s.iou) == (0.0, 0.0, 0.0, 0.0, 0.0)
    s = score_compat(GT_NO, "\x00garbage")
    assert s.success == 0.0


def test_no_tool_rules():
    s = score_compat(GT_NO, "Thought: Do I need to use a tool? No\nAI: hi")
    assert (s.thought, s.action, s.args, s.success, s.iou) == (1.0, 1.0, 1.0, 1.0, 1.0)
    # thought right but no "AI: " line -> thought 0 -> everything 0; IoU keeps the positional match
    s = score_compat(GT_NO, "Thought: Do I need to use a tool? No\nsure")
    assert (s.thought, s.action, s.args, s.success, s.iou) == (0.0, 0.0, 0.0, 0.0, 1.0)
    s = score_compat(GT_NO, "Thought: Do I need to use a tool? Yes\nAction: x\nAction Input: y\nAI: z")
    assert s.success == 0.0 and s.pred_tool == "x"
    # an extra thought position halves the positional thought score (-> failure); IoU ignores it
    s = score_compat(GT_NO, "Thought: Do I need to use a tool? No\nAI: a\nThought: Do I need to use a tool? No")
    assert (s.thought, s.action, s.success, s.iou) == (0.5, 0.0, 0.0, 1.0)


def test_unpaired_gt_is_an_error_naming_the_item():
    with pytest.raises(GroundTruthError, match="item 'x7'"):
        score_compat("Action: a\nAction Input: b\nAction Input: c", "", "x7")
