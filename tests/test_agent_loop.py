"""The agent's ReAct loop with a scripted LLM: chains, answers, malformed steps, tool errors, escapes, budgets."""

from __future__ import annotations

import json

import pytest
from agent_doubles import FakeTool, FakeWorkspace, ScriptedLLM, reply, step
from PIL import Image

from gpt4tools.agent import Agent, AgentSettings, ChatHistory, ChatSession
from gpt4tools.react import parse_step


@pytest.fixture
def workspace(tmp_path):
    return FakeWorkspace(tmp_path / "ws")


def make_agent(workspace, outputs, keys=("Image2Canny", "CannyText2Image", "ImageCaptioning", "ImageCropping"),
               **settings):
    tools = {k: FakeTool(k, workspace) for k in keys}
    return Agent(ScriptedLLM(outputs), tools, workspace, AgentSettings(**settings))


def upload(agent, history):
    return agent.upload(Image.new("RGB", (640, 480), "red"), history)


def test_two_step_chain_feeds_the_detector_output_to_the_generator(workspace):
    agent = make_agent(workspace, [])
    history = ChatHistory()
    image = upload(agent, history)
    agent.llm.outputs = [step("Edge Detection On Image", image),
                         step("Generate Image Condition On Canny Image", "image/image2canny_0001.png, a red car"),
                         reply("Here is the car: image/canny_done.png")]
    result = agent.run("Generate a real image of a red car from the edges of this picture", history)

    assert result.stop_reason == "answer"
    assert [s.kind for s in result.steps] == ["tool", "tool", "answer"]
    assert result.steps[0].observation == "Result saved as image/image2canny_0001.png"
    assert len(result.images) == 2 and all(p.is_file() for p in result.images)
    # the second prompt holds the first step and its observation, as the original context samples do
    second = agent.llm.instructions[1]
    assert second.endswith(f"Action Input: {image}\nObservation: Result saved as image/image2canny_0001.png\n")
    assert agent.tools["CannyText2Image"].calls == ["image/image2canny_0001.png, a red car"]
    # the final exchange enters the history
    assert history.turns[-1].ai == "Here is the car: image/canny_done.png"


def test_upload_is_resized_captioned_and_becomes_the_upload_turn(workspace):
    agent = make_agent(workspace, [reply("ok")])
    history = ChatHistory()
    rel = upload(agent, history)
    assert Image.open(workspace.resolve(rel)).size == (512, 384)
    assert history.render() == (f"Human: Provide an image named {rel}. Description: a person in a space suit "
                                "Understand the image using tools.\nAI: Received.")
    prompt, _ = agent.build_prompt("what is this?", history)
    assert f"Provide an image named {rel}" in prompt


def test_caption_falls_back_to_the_default_without_a_captioning_tool(workspace):
    agent = make_agent(workspace, [reply("ok")], keys=("Image2Canny",))
    history = ChatHistory()
    upload(agent, history)
    assert "Description: No description is available." in history.render()


def test_prompt_shows_few_relevant_tools_and_keeps_prerequisites(workspace):
    keys = ("Image2Canny", "CannyText2Image", "ImageCaptioning", "ImageCropping", "Image2Line", "Image2Hed",
            "Image2Scribble", "Text2Box", "Segmenting")
    agent = make_agent(workspace, [reply("ok")], keys=keys, max_tools_shown=3)
    shown = [t.key for t in agent.shown_tools("generate a real image of a dog from the canny image")]
    assert len(shown) == 3
    assert "CannyText2Image" in shown and "Image2Canny" in shown
    prompt, _ = agent.build_prompt("crop the region [0, 0, 10, 10]")
    assert prompt.count("\n> ") == 3 and "> Crop Image:" in prompt


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("Thought: Do I need to use a tool? Yes\nAction: Edge Detection On Image", "missing 'Action Input:'"),
        (step("Teleport The Image", "image/x.png"), "unknown tool 'Teleport The Image'"),
        (step("Crop Image", "image/x.png"), "invalid Action Input"),  # box argument missing: wrong arity
        ("I think the image shows a cat.", "invalid format"),
    ],
    ids=["no-action-input", "unknown-tool", "wrong-arity", "no-format"],
)
def test_malformed_step_gets_an_error_observation_and_a_retry(workspace, bad, message):
    agent = make_agent(workspace, [bad, reply("done")])
    result = agent.run("detect the edges")
    assert result.stop_reason == "answer" and result.answer == "done"
    assert result.steps[0].kind == "invalid" and message in result.steps[0].observation
    assert agent.llm.instructions[1].endswith(f"Observation: {result.steps[0].observation}\n")


def test_retries_are_bounded(workspace):
    agent = make_agent(workspace, [step("Nope", "x")], max_retries=2)
    result = agent.run("detect the edges")
    assert result.stop_reason == "max_retries"
    assert len(result.steps) == 3 and len(agent.llm.instructions) == 3
    assert "malformed" in result.answer


@pytest.mark.parametrize("escape", ["../secret.png", "/etc/passwd", "image/../../secret.png"])
def test_a_path_outside_the_workspace_is_refused(workspace, tmp_path, escape):
    (tmp_path / "secret.png").write_bytes(b"not for the model")
    agent = make_agent(workspace, [step("Edge Detection On Image", escape), reply("sorry")])
    result = agent.run("detect the edges")
    assert result.steps[0].kind == "tool_error"
    assert "refused image path" in result.steps[0].observation
    assert agent.tools["Image2Canny"].calls == []  # the tool never saw it
    assert result.images == []


def test_missing_image_is_an_observation(workspace):
    agent = make_agent(workspace, [step("Edge Detection On Image", "image/nothere.png"), reply("no")])
    result = agent.run("detect the edges")
    assert "no image named 'image/nothere.png'" in result.steps[0].observation


def test_tool_exception_becomes_an_observation(workspace):
    agent = make_agent(workspace, [])
    history = ChatHistory()
    image = upload(agent, history)
    agent.tools["Image2Canny"].fail = RuntimeError("out of memory")
    agent.llm.outputs = [step("Edge Detection On Image", image), reply("it failed")]
    result = agent.run("detect the edges", history)
    assert result.steps[0].kind == "tool_error"
    assert result.steps[0].observation == "Error: Edge Detection On Image failed: out of memory"
    assert result.answer == "it failed"


def test_step_budget_stops_the_loop(workspace):
    agent = make_agent(workspace, [], max_steps=2)
    history = ChatHistory()
    image = upload(agent, history)
    agent.llm.outputs = [step("Get Photo Description", image)]
    result = agent.run("describe", history)
    assert result.stop_reason == "max_steps" and len(result.steps) == 2
    assert "limit of 2 tool steps" in result.answer and "a person in a space suit" in result.answer


def test_time_budget_stops_the_loop(workspace):
    agent = make_agent(workspace, [step("Get Photo Description", "x")], time_budget_s=0.0)
    result = agent.run("describe")
    assert result.stop_reason == "time_budget" and result.steps == []


def test_every_turn_is_logged_as_jsonl(workspace):
    agent = make_agent(workspace, [])
    session = ChatSession(agent)
    image = session.upload(Image.new("RGB", (64, 64)))
    agent.llm.outputs = [step("Edge Detection On Image", image), reply("edges done")]
    session.ask("detect the edges")
    lines = (workspace.root / "turns.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["kind"] for r in records] == ["upload", "turn"]
    assert {r["session"] for r in records} == {session.id}
    turn = records[1]
    assert turn["answer"] == "edges done" and turn["images"] == ["image/image2canny_0001.png"]
    assert [s["action"] for s in turn["steps"]] == ["Edge Detection On Image", None]


def test_history_is_trimmed_to_the_last_turns_and_keeps_the_upload():
    history = ChatHistory(max_turns=3)
    history.add_upload("image/a.png", "a cat")
    for i in range(5):
        history.add_exchange(f"q{i}", f"a{i}")
    assert len(history.turns) == 3
    text = history.render()
    assert "image/a.png" in text and "q4" in text and "q3" in text
    assert "q0" not in text and "q2" not in text


def test_trimmed_history_is_what_the_prompt_shows(workspace):
    agent = make_agent(workspace, [reply("fine")])
    session = ChatSession(agent, history_turns=2)
    for i in range(4):
        session.ask(f"question {i}")
    last = agent.llm.instructions[-1]
    assert "Human: question 2" in last and "Human: question 1" in last and "Human: question 0" not in last


def test_scripted_chain_parses_back_through_the_shared_parser():
    parsed = parse_step(step("Crop Image", "image/a.png, [1, 2, 3, 4]"))
    assert parsed.action == "Crop Image" and parsed.action_input == "image/a.png, [1, 2, 3, 4]"


def test_answer_ends_before_a_written_human_turn(workspace):
    agent = make_agent(workspace, [reply("It is a cat.\nHuman: and now?\nAI: Received.")])
    assert agent.run("what is it?").answer == "It is a cat."


def test_a_symlink_leading_out_of_the_workspace_is_refused(workspace, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8)).save(secret)
    (workspace.root / "image").mkdir(parents=True, exist_ok=True)
    (workspace.root / "image" / "link.png").symlink_to(secret)
    agent = make_agent(workspace, [step("Edge Detection On Image", "image/link.png"), reply("no")])
    result = agent.run("detect the edges")
    assert "refused image path" in result.steps[0].observation
    assert agent.tools["Image2Canny"].calls == []


def test_crafted_escapes_against_the_real_workspace_and_canny_tool(tmp_path):
    """With the visual tools package: escapes are refused, a valid chain runs the real OpenCV Canny tool."""
    tools_pkg = pytest.importorskip("gpt4tools.tools")
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8)).save(secret)
    ws = tools_pkg.Workspace(tmp_path / "ws")
    tools = tools_pkg.build_tools(["Image2Canny"], ws)
    history = ChatHistory()
    agent = Agent(ScriptedLLM([]), tools, ws)
    image = agent.upload(Image.new("RGB", (100, 80), "white"), history)
    agent.llm.outputs = [step("Edge Detection On Image", "../secret.png"),
                         step("Edge Detection On Image", str(secret)),
                         step("Edge Detection On Image", image), reply("done")]
    result = agent.run("detect the edges", history)
    assert [s.kind for s in result.steps] == ["tool_error", "tool_error", "tool", "answer"]
    assert all("outside the workspace" in s.observation for s in result.steps[:2])
    assert len(result.images) == 1 and result.images[0].parent.is_relative_to(ws.root)
    assert Image.open(result.images[0]).size == Image.open(ws.resolve(image)).size


def test_an_upload_the_workspace_refuses_is_a_clear_error(workspace):
    from gpt4tools.agent.loop import UploadRefused

    agent = make_agent(workspace, [reply("ok")])
    with pytest.raises(UploadRefused):
        agent.upload("not an image", ChatHistory())
