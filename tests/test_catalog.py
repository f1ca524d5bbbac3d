"""The tool catalog: counts, lookups, subsets and schema-aware argument parsing."""

import pytest

from gpt4tools.catalog import (
    CATALOG,
    ArgumentError,
    OutputKind,
    find_by_name,
    format_action_input,
    get_tool,
    parse_action_input,
    select_tools,
)


def test_counts_match_the_paper_setup():
    assert len(select_tools("seen")) == 23
    unseen = {t.key for t in select_tools("unseen")}
    assert {"ImageCropping", "TextDetection", "ObjectDetection", "LineText2Image"} <= unseen
    assert len(CATALOG) == len(select_tools("all"))


def test_lookup_by_key_name_and_case_insensitive_name():
    assert get_tool("Text2Box").name == "Detect the Give Object"
    assert get_tool("Detect the Give Object").key == "Text2Box"
    assert find_by_name("  segment THE image ").key == "Segmenting"
    assert find_by_name("Not A Tool") is None
    with pytest.raises(KeyError):
        get_tool("Nope")


def test_prerequisites_point_to_image_tools():
    for spec in CATALOG.values():
        if spec.prerequisite:
            assert CATALOG[spec.prerequisite].output is OutputKind.IMAGE


def test_subset_include_exclude():
    keys = [t.key for t in select_tools("seen", include={"ImageCropping": True}, exclude=["Text2Image"])]
    assert "ImageCropping" in keys and "Text2Image" not in keys
    with pytest.raises(KeyError):
        select_tools("seen", exclude=["Unknown"])


def test_parse_keeps_commas_inside_text():
    vqa = get_tool("VisualQuestionAnswering")
    assert parse_action_input(vqa, "image/abc.png, what is red, green or blue?") == [
        "image/abc.png", "what is red, green or blue?"]
    replace = get_tool("ImageReplacing")
    assert parse_action_input(replace, "a.png, the cat, a dog, brown and white") == [
        "a.png", "the cat", "a dog, brown and white"]


def test_parse_box_and_errors():
    crop = get_tool("ImageCropping")
    assert parse_action_input(crop, "x.png, [10,20, 30 ,40]") == ["x.png", "[10, 20, 30, 40]"]
    with pytest.raises(ArgumentError):
        parse_action_input(crop, "x.png, 10, 20")
    with pytest.raises(ArgumentError):
        parse_action_input(get_tool("Segmenting"), "a.png, b.png")
    with pytest.raises(ArgumentError):
        parse_action_input(get_tool("VisualQuestionAnswering"), "a.png")
    assert parse_action_input(get_tool("Text2Image"), "a cat, on a mat") == ["a cat, on a mat"]
    assert format_action_input(["a.png ", " b"]) == "a.png, b"
