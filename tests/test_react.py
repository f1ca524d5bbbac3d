"""The one ReAct parser: the original scorer's line view (quirks kept) and the first-step view the agent runs."""

from gpt4tools.prompt import final_step, tool_step
from gpt4tools.react import find_lines, first_step, is_tool_output, needs_tool, open_action_name, parse_step

CALL = tool_step("Segment the Image", "image/a.png")


def test_find_lines_collects_every_line_as_the_original_regexes_do():
    text = CALL + " image/b.png\n" + final_step("done.") + "Thought: Do I need to use a tool?  Yes \nGPT4AI: x"
    lines = find_lines(text)
    assert lines.thoughts == ["Yes", "No", "Yes"]  # values stripped
    assert lines.actions == ["Segment the Image"] and lines.action_inputs == ["image/a.png"]
    assert lines.answers == ["done.", "x"]  # "AI: " matches inside a word too, as in the original
    assert find_lines("Thought: Do I need to use a tool?Yes").thoughts == []  # the space after "?" is required


def test_the_first_step_ends_at_its_observation_and_before_a_second_thought():
    assert first_step(CALL + " image/b.png\nThought: Do I need to use a tool? No") == CALL.removesuffix(
        "\nObservation:\n")
    assert first_step("Action Input: a.png Observation: made up") == "Action Input: a.png "
    step = parse_step(final_step("A haiku.") + tool_step("Pose Detection On Image", "image/a.png"))
    assert (step.thought, step.action, step.answer) == ("No", None, "A haiku.")


def test_an_answer_runs_to_the_end_of_its_step_and_only_without_an_action():
    assert parse_step("Thought: Do I need to use a tool? No\nAI: line one\nline two").answer == "line one\nline two"
    assert parse_step("Thought: Do I need to use a tool? Yes\nAction: x\nAI: y").answer is None


def test_tool_items_by_the_original_test_and_by_the_first_thought():
    assert is_tool_output(CALL) and needs_tool(CALL)
    assert not is_tool_output(final_step("hi")) and not needs_tool(final_step("hi"))
    assert not needs_tool("Action: x\nAction Input: y")  # no thought: the original counts it a tool item, we do not
    assert is_tool_output("Action: x\nAction Input: y")


def test_an_open_action_name_is_what_follows_the_last_action_line():
    assert open_action_name("Thought: Do I need to use a tool? Yes\nAction: Segm") == " Segm"
    assert open_action_name("Action: Segment the Image\nAction Input: a") is None
    assert open_action_name("Thought: Do I need to use a tool? No\nAI: a Action: b") is None
