"""Every model-backed tool through its real loading and inference path, with tiny random-weight models.

The tiny models are saved to disk the way real checkpoints are (``save_pretrained`` folders, ``.pth`` files) and
the tools are pointed at them through ``tool_backends.weights``; only the sizes differ from the real ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import tiny_tool_models as tiny
import torch
from PIL import Image

from gpt4tools.tools import NothingFound, Workspace, build_tools

CONTROLNET_KEYS = ["CannyText2Image", "LineText2Image", "HedText2Image", "ScribbleText2Image", "PoseText2Image",
                   "SegText2Image", "DepthText2Image", "NormalText2Image"]
CONDITIONS = ["canny", "mlsd", "hed", "scribble", "openpose", "seg", "depth", "normal"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    rng = np.random.default_rng(0)
    ws.save_upload(Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)), "a", resize=False)
    return ws


@pytest.fixture(scope="module")
def sd_weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("sd")
    controlnet = str(tiny.save_controlnet(root / "controlnet"))
    weights = {f"controlnet_{c}": controlnet for c in CONDITIONS}
    weights.update(sd15=str(tiny.save_sd_pipeline(root / "sd15")),
                   instruct_pix2pix=str(tiny.save_sd_pipeline(root / "pix2pix", "pix2pix")))
    return weights


SD_OPTIONS = {"num_inference_steps": 2, "pix2pix_steps": 2, "seed": 0, "height": 32, "width": 32}


def _image(ws, observation: str) -> np.ndarray:
    path = ws.resolve(observation)
    assert path.is_file() and path.suffix == ".png"
    return np.asarray(Image.open(path))


def test_text2image_and_two_controlnets_share_sd15(ws, sd_weights):
    tools = build_tools(["Text2Image", "CannyText2Image", "LineText2Image"], ws,
                        {"weights": sd_weights, "options": SD_OPTIONS})
    assert _image(ws, tools["Text2Image"]("a red cat, sitting, on a mat")).shape == (32, 32, 3)
    out = tools["CannyText2Image"]("image/a.png, a red cat, with a comma")
    assert out.startswith("image/") and "_canny2image_a_a" in out
    assert _image(ws, out).shape == (32, 32, 3)
    tools["LineText2Image"]("image/a.png, a house")
    pool = tools["Text2Image"].pool
    sd_key = next(k for k in pool._items if k[0] == "sd15")
    assert pool.refcount(sd_key) == 3  # one UNet/VAE/text encoder for the three tools
    assert tools["CannyText2Image"]._pipe.unet is tools["Text2Image"]._pipe.unet
    for tool in tools.values():
        tool.unload()
    assert len(pool) == 0


def test_seeded_generation_is_reproducible(ws, sd_weights):
    tool = build_tools(["Text2Image"], ws, {"weights": sd_weights, "options": SD_OPTIONS})["Text2Image"]
    assert np.array_equal(_image(ws, tool("a cat")), _image(ws, tool("a cat")))


@pytest.mark.slow
@pytest.mark.parametrize("key", CONTROLNET_KEYS)
def test_every_controlnet_generator(ws, sd_weights, key):
    tool = build_tools([key], ws, {"weights": sd_weights, "options": SD_OPTIONS})[key]
    assert _image(ws, tool("image/a.png, a photo of a dog")).shape == (32, 32, 3)


def test_instruct_pix2pix(ws, sd_weights):
    tool = build_tools(["InstructPix2Pix"], ws, {"weights": sd_weights, "options": SD_OPTIONS})["InstructPix2Pix"]
    out = tool("image/a.png, make it look like a painting, please")
    assert "_pix2pix_a_a" in out and _image(ws, out).shape == (32, 32, 3)


def test_blip_caption_and_vqa(ws, tmp_path_factory):
    root = tmp_path_factory.mktemp("blip")
    cfg = {"weights": {"blip_caption": str(tiny.save_blip(root / "caption", vqa=False)),
                       "blip_vqa": str(tiny.save_blip(root / "vqa", vqa=True))},
           "options": {"max_new_tokens": 5}}
    tools = build_tools(["ImageCaptioning", "VisualQuestionAnswering"], ws, cfg)
    caption = tools["ImageCaptioning"]("image/a.png")
    answer = tools["VisualQuestionAnswering"]("image/a.png, what is in this picture, a cat or a dog?")
    vocab = set(tiny.bert_vocab())
    for text in (caption, answer):
        assert isinstance(text, str) and set(text.replace("?", " ?").replace(",", " ,").split()) <= vocab


def test_depth_and_normal(ws, tmp_path_factory):
    dpt = str(tiny.save_dpt(tmp_path_factory.mktemp("dpt") / "dpt"))
    tools = build_tools(["Image2Depth", "Image2Normal"], ws, {"weights": {"dpt_depth": dpt, "dpt_hybrid": dpt}})
    assert _image(ws, tools["Image2Depth"]("image/a.png")).shape == (32, 32, 3)
    normal = _image(ws, tools["Image2Normal"]("image/a.png"))
    assert normal.shape == (32, 32, 3) and normal[..., 2].min() >= 127  # z points at the viewer


def test_normal_from_depth_geometry():
    from gpt4tools.tools.detectors import normal_from_depth

    ramp = np.tile(np.arange(32, dtype=np.float32), (32, 1))  # depth rising one unit per pixel to the right
    normal = normal_from_depth(ramp, bg_threshold=0.0)
    assert normal[16, 16, 0] > 200 and abs(int(normal[16, 16, 1]) - 128) <= 1


def test_detection_of_all_objects(ws, tmp_path_factory):
    detr = str(tiny.save_detr(tmp_path_factory.mktemp("detr") / "detr"))
    tool = build_tools(["ObjectDetection"], ws, {"weights": {"detr": detr},
                                                 "options": {"detection_threshold": 0.0}})["ObjectDetection"]
    answer = tool("image/a.png")
    assert answer.startswith("Detected objects: ") and ("cat [" in answer or "dog [" in answer)


@pytest.fixture(scope="module")
def sam_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("sam")
    arch = tiny.save_sam(root / "sam_tiny.pth")
    return {"weights": {"sam": str(root / "sam_tiny.pth")},
            "options": {"sam_model_type": arch, "sam_points_per_side": 2}}


def test_sam_segments_the_image(ws, sam_cfg):
    out = build_tools(["Segmenting"], ws, sam_cfg)["Segmenting"]("image/a.png")
    assert "_segment-image_a_a" in out and _image(ws, out).shape == (32, 32, 3)


@pytest.fixture(scope="module")
def grounding_cfg(tmp_path_factory, sam_cfg, sd_weights):
    root = tmp_path_factory.mktemp("gdino")
    bert = tiny.save_tiny_bert(root / "bert")
    config, checkpoint = tiny.save_groundingdino(root / "gdino", bert)
    weights = dict(sam_cfg["weights"], groundingdino=str(checkpoint), groundingdino_config=str(config),
                   groundingdino_text_encoder=str(bert),
                   sd_inpaint=str(tiny.save_sd_pipeline(root / "inpaint", "inpaint")))
    options = dict(sam_cfg["options"], box_threshold=0.0, text_threshold=0.0, grounding_image_size=64,
                   inpaint_size=32, inpaint_steps=2, seed=0)
    return {"weights": weights, "options": options}


def test_grounding_composites_share_models(ws, grounding_cfg):
    tools = build_tools(["Text2Box", "ObjectSegmenting", "ImageReplacing"], ws, grounding_cfg)
    boxed = tools["Text2Box"]("image/a.png, a cat")
    assert "_detect-something_a_a" in boxed and _image(ws, boxed).shape == (32, 32, 3)
    dets = tools["Text2Box"].last_detections
    assert len(dets.boxes) == 3 and (dets.boxes[:, 2] >= dets.boxes[:, 0]).all()
    assert "_segmentation_" in tools["ObjectSegmenting"]("image/a.png, a cat")
    replaced = tools["ImageReplacing"]("image/a.png, the cat, a red dog, sitting")
    assert "_replace-something_" in replaced and _image(ws, replaced).shape == (32, 32, 3)
    assert tools["ObjectSegmenting"]._grounding is tools["Text2Box"]._grounding is tools["ImageReplacing"]._grounding
    assert tools["ObjectSegmenting"]._sam is tools["ImageReplacing"]._sam


def test_remove_reports_nothing_found(ws, grounding_cfg):
    cfg = {"weights": grounding_cfg["weights"], "options": dict(grounding_cfg["options"], box_threshold=1.0)}
    with pytest.raises(NothingFound, match="the cat"):
        build_tools(["ImageRemoving"], ws, cfg)["ImageRemoving"]("image/a.png, the cat")


def test_mlsd_runs_when_its_weights_are_there(ws, tmp_path):
    from controlnet_aux.mlsd.models.mbv2_mlsd_large import MobileV2_MLSD_Large

    torch.manual_seed(0)
    torch.save(MobileV2_MLSD_Large().state_dict(), tmp_path / "mlsd_large_512_fp32.pth")
    tool = build_tools(["Image2Line"], ws, {"weights": {"annotators": str(tmp_path)},
                                            "options": {"detect_resolution": 64}})["Image2Line"]
    assert _image(ws, tool("image/a.png")).shape == (32, 32, 3)
    assert tool.last_backend == "M-LSD"


@pytest.mark.slow
def test_openpose_with_random_weights(ws, tmp_path):
    from controlnet_aux.open_pose.body import bodypose_model
    from controlnet_aux.open_pose.face import FaceNet
    from controlnet_aux.open_pose.hand import handpose_model

    def released_layout(model):  # the released files drop the first module prefix (model0.conv1_1 -> conv1_1)
        return {".".join(k.split(".")[1:]): v for k, v in model.state_dict().items()}

    torch.save(released_layout(bodypose_model()), tmp_path / "body_pose_model.pth")
    torch.save(released_layout(handpose_model()), tmp_path / "hand_pose_model.pth")
    torch.save(FaceNet().state_dict(), tmp_path / "facenet.pth")
    tool = build_tools(["Image2Pose"], ws, {"weights": {"annotators": str(tmp_path)},
                                            "options": {"detect_resolution": 64}})["Image2Pose"]
    assert _image(ws, tool("image/a.png")).shape == (32, 32, 3)


@pytest.mark.gpu
def test_tools_on_cuda(ws, sd_weights, sam_cfg):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cfg = {"device": "cuda:0", "weights": dict(sd_weights, **sam_cfg["weights"]),
           "options": dict(SD_OPTIONS, **sam_cfg["options"])}
    tools = build_tools(["Image2Hed", "Text2Image", "CannyText2Image", "Segmenting"], ws, cfg)
    for key, arg in (("Image2Hed", "image/a.png"), ("Text2Image", "a cat"),
                     ("CannyText2Image", "image/a.png, a cat"), ("Segmenting", "image/a.png")):
        assert _image(ws, tools[key](arg)).shape[-1] == 3
        assert tools[key].device == "cuda:0"
