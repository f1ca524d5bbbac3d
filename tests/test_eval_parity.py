"""compat reproduces the original scorer's numbers exactly on a recorded fixture (per item and overall)."""

import json
from pathlib import Path

import pytest

from gpt4tools.evaluation.items import load_eval_set
from gpt4tools.evaluation.predictions import load_predictions
from gpt4tools.evaluation.scores import aggregate
from gpt4tools.evaluation.scoring import score_items

FIXTURE = Path(__file__).resolve().parents[1] / "eval" / "fixtures" / "compat_parity"


@pytest.fixture(scope="module")
def scored():
    items = load_eval_set(FIXTURE / "gt.json", "parity")
    preds = load_predictions(FIXTURE / "predictions.json", {"parity": items}, "original")["parity"]
    return score_items(items, preds, "compat"), json.loads((FIXTURE / "expected.json").read_text())


def test_every_item_matches_the_original(scored):
    scores, expected = scored
    assert len(scores) == len(expected["items"])
    for s in scores:
        want = expected["items"][s.id]
        assert (s.thought, s.action, s.args, s.success, s.iou) == (
            want["thought"], want["action"], want["args"], want["success"], want["iou"]), s.id


def test_overall_numbers_match_the_original_exactly(scored):
    scores, expected = scored
    ours = aggregate(scores)
    for metric, value in expected["overall"].items():
        assert ours[metric] == value, metric
    assert 0.2 < ours["SR"] < 0.8  # the fixture exercises both outcomes
