"""Constrained action names: after "Action:" only the prompt's listed tools, in both decoding engines."""

import pytest
import torch

from gpt4tools.catalog import get_tool
from gpt4tools.constrained import ActionNameConstraint, AllowedTokensProcessor, prompt_constraints
from gpt4tools.decoding import iter_ragged_greedy
from gpt4tools.inference import Generator
from gpt4tools.prompt import THOUGHT_PREFIX, listed_tool_names, render_prompt
from gpt4tools.react import parse_step

NAMES = ["Segment the Image", "Detection", "Detect the Give Object"]


def _prompt() -> str:
    return render_prompt([get_tool(name) for name in NAMES], "Find every object in image/a.png")


def test_listed_tool_names_reads_the_prompt_list():
    assert listed_tool_names(_prompt()) == NAMES
    assert listed_tool_names("Human: hello") == []


def test_only_listed_names_continue_an_action_line(smollm2_tokenizer):
    tok = smollm2_tokenizer
    constraint = ActionNameConstraint.for_prompt(tok, _prompt())
    head = tok(f"{THOUGHT_PREFIX} Yes\nAction:", add_special_tokens=False)["input_ids"]
    first = constraint.allowed(head)
    assert first and all(any(f" {n}\n".startswith(tok.decode([t])) for n in NAMES) for t in first)
    # the tokenizer's own first token of each name is among them
    for name in NAMES:
        own = tok(f"Action: {name}\n", add_special_tokens=False)["input_ids"][len(tok("Action:")["input_ids"])]
        assert own in first
    partial = head + tok(" Detect", add_special_tokens=False)["input_ids"]
    nexts = {tok.decode([t]) for t in constraint.allowed(partial)}
    assert " the" in nexts and " all" not in nexts
    assert constraint.allowed(tok(f"{THOUGHT_PREFIX} No\nAI: hi", add_special_tokens=False)["input_ids"]) is None
    done = head + tok(" Detection\nAction Input: a.png", add_special_tokens=False)["input_ids"]
    assert constraint.allowed(done) is None


def _forced_then_constrained(tok, prompt_text: str):
    """Force a random model to open an action line, then let the constraint choose the name."""
    forced = tok(f"{THOUGHT_PREFIX} Yes\nAction:", add_special_tokens=False)["input_ids"]
    constrained = prompt_constraints(tok, [prompt_text])

    def allowed(index, ids):
        return [forced[len(ids)]] if len(ids) < len(forced) else constrained(index, ids)

    return allowed


@pytest.mark.parametrize("engine", ["ragged", "hf"])
def test_a_random_model_can_only_name_a_listed_tool(tiny_model, smollm2_tokenizer, engine):
    tok = smollm2_tokenizer
    gen = Generator(tiny_model, tok, "chatml", max_new_tokens=24)
    text = gen.render(_prompt())
    ids = tok(text)["input_ids"]
    allowed = _forced_then_constrained(tok, text)
    if engine == "ragged":
        new = dict(iter_ragged_greedy(tiny_model, [ids], max_new_tokens=24, eos_token_ids=[], max_batch=2,
                                      allowed_tokens=allowed))[0]
    else:
        out = tiny_model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False,
                                  pad_token_id=tok.pad_token_id, logits_processor=[AllowedTokensProcessor(
                                      allowed, [0], len(ids))])
        new = out[0, len(ids):].tolist()
    step = parse_step(tok.decode(new, skip_special_tokens=True))
    assert step.thought == "Yes"
    assert step.action in NAMES


def test_generator_option_changes_nothing_outside_action_lines(tiny_model, smollm2_tokenizer):
    """A random model never writes "Action:" itself, so constrained and free generation agree."""
    free = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=8)
    constrained = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=8, constrain_actions=True)
    hf = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=8, constrain_actions=True, engine="hf")
    prompts = [_prompt(), "Hi"]
    assert constrained.generate(prompts) == free.generate(prompts) == hf.generate(prompts)


def test_an_endpoint_cannot_be_constrained():
    from gpt4tools.evaluation import Endpoint, EvalSettings
    from gpt4tools.evaluation.sources import open_source

    settings = EvalSettings.from_config(generation={"constrain_actions": True})
    with pytest.raises(ValueError, match="constrain_actions"):
        open_source(Endpoint("gpt-x", base_url="http://localhost:1", max_retries=1, timeout=1, concurrency=1), settings)


def test_streaming_takes_the_constraint_too(tiny_model, smollm2_tokenizer, monkeypatch):
    """The agent streams through model.generate: the constraint reaches it as a logits processor."""
    import gpt4tools.constrained as constrained

    seen = []
    real = constrained.AllowedTokensProcessor.__call__

    def spy(self, input_ids, scores):
        seen.append(input_ids.shape[1])
        return real(self, input_ids, scores)

    monkeypatch.setattr(constrained.AllowedTokensProcessor, "__call__", spy)
    gen = Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=6, constrain_actions=True)
    streamed = "".join(gen.stream(_prompt()))
    assert seen and streamed == gen.generate([_prompt()])[0]
