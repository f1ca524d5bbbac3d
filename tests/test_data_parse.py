"""Reply parsing, tool-name matching, argument validation and (near-)dedup of teacher lines."""

from __future__ import annotations

import pytest

from gpt4tools.data.clean import deduplicate
from gpt4tools.data.parse import DropReport, Instruction, ReplyParser, ToolNameMatcher


@pytest.mark.parametrize("line", [
    '1. "Find the red car in the street", [Detect the Give Object, example.jpg, red car]',
    '2) Find the red car in the street, [Detect the Give Object, example.jpg, red car].',
    '(3) "Find the red car in the street", ["Detect the Give Object", "example.jpg", "red car"]',
    '- Find the red car in the street, [Detect the Given Object, example.jpg, red car]',
    '* Instruction: "Find the red car in the street", [detect the give object, example.jpg, red car]',
])
def test_numbering_quotes_and_name_variants(line):
    inst = ReplyParser().parse_line(line, "img1")
    assert isinstance(inst, Instruction), inst
    assert (inst.instruction, inst.tool, inst.args) == ("Find the red car in the street", "Text2Box",
                                                         ("example.jpg", "red car"))


def test_commas_inside_text_arguments_survive():
    line = '5. Replace the dog, the one on the left, with a cat, [Replace Something From The Photo, example.jpg, dog, a black cat, sleeping]'
    inst = ReplyParser().parse_line(line)
    assert inst.tool == "ImageReplacing" and inst.args == ("example.jpg", "dog", "a black cat, sleeping")
    vqa = ReplyParser().parse_line('6. Is it red, blue or green?, [Answer Question About The Image, example.jpg, is it red, blue or green?]')
    assert vqa.args == ("example.jpg", "is it red, blue or green?")


def test_box_arguments_and_bracket_nesting():
    inst = ReplyParser().parse_line('7. "Crop the dog [10, 20, 200, 300]", [Crop Image, example.jpg, [10, 20, 200, 300]]')
    assert inst.tool == "ImageCropping" and inst.args == ("example.jpg", "[10, 20, 200, 300]")
    assert ReplyParser().parse_line("8. Crop it, [Crop Image, example.jpg, [200, 20, 10, 300]]") == "bad_box"


@pytest.mark.parametrize(("line", "reason"), [
    ("Here are the instructions:", "no_tool_call"),
    ('1. "Do something fancy", [Teleport The Cat, example.jpg]', "unknown_tool"),
    ('1. "Segment the photo", [Segment the Image, photo.png]', "bad_image_argument"),
    ('1. "Find the car", [Detect the Give Object, example.jpg]', "bad_arguments"),
    ('1. "", [Segment the Image, example.jpg]', "empty_instruction"),
    ('1. "Hi", [Segment the Image, example.jpg]', "instruction_too_short"),
])
def test_bad_lines_have_reasons(line, reason):
    assert ReplyParser().parse_line(line) == reason


def test_tools_outside_the_split_are_dropped_and_reported():
    parser = ReplyParser(allowed_tools={"Segmenting"})
    report = DropReport()
    reply = ('1. "Segment this street scene", [Segment the Image, example.jpg]\n\n'
             '2. "Crop the car", [Crop Image, example.jpg, [1, 2, 30, 40]]\nrandom chatter')
    out = parser.parse_reply("img", reply, report)
    assert [i.tool for i in out] == ["Segmenting"]
    assert report.counts == {"tool_not_in_split": 1, "no_tool_call": 1}
    assert report.to_dict()["reasons"]["tool_not_in_split"]["examples"][0].startswith("2.")


def test_fuzzy_matching_has_a_threshold():
    match = ToolNameMatcher(threshold=88)
    assert match("Predict Depth on the Image") == "Image2Depth"
    assert match("Edge Detection Image") == "Image2Canny"
    assert match("Detection") == "ObjectDetection"
    assert match("Depth") is None and match("Make Coffee") is None


def _inst(text: str, tool: str = "Text2Box", arg: str = "red car") -> Instruction:
    return Instruction("i", text, tool, ("example.jpg", arg))


def test_exact_near_and_cross_split_duplicates():
    report = DropReport()
    items = [_inst("Find the red car in the street."), _inst("find the red car in the street"),
             _inst("Find the red car in the streets"), _inst("Please locate the red car for me"),
             _inst("Find the blue car in the street.", arg="blue car")]
    kept = deduplicate(items, report, near_threshold=92)
    assert [i.instruction for i in kept] == ["Find the red car in the street.", "Please locate the red car for me",
                                             "Find the blue car in the street."]
    assert report.counts == {"duplicate": 1, "near_duplicate": 1}
    taken = {"find the red car in the street"}
    report2 = DropReport()
    assert deduplicate([_inst("Find the red car in the street!")], report2, taken=taken) == []
    assert report2.counts == {"cross_split_duplicate": 1}
