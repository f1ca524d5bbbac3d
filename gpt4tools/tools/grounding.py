"""GroundingDINO text-to-box, SAM segmentation and the composites built on them (segment / remove / replace)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from gpt4tools.tools.base import Tool
from gpt4tools.tools.errors import NothingFound
from gpt4tools.tools.weights import WeightInfo

log = logging.getLogger(__name__)

GDINO = WeightInfo("groundingdino", "GroundingDINO SwinT-OGC checkpoint (groundingdino_swint_ogc.pth)",
                   "https://github.com/IDEA-Research/GroundingDINO/releases/download/v0.1.0-alpha/"
                   "groundingdino_swint_ogc.pth", kind="file")
GDINO_TEXT = WeightInfo("groundingdino_text_encoder", "GroundingDINO text encoder (BERT)", "hub bert-base-uncased")
SAM = WeightInfo("sam", "SAM checkpoint (sam_vit_h_4b8939.pth)",
                 "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth", kind="file")
SD_INPAINT = WeightInfo("sd_inpaint", "Stable Diffusion inpainting pipeline", "hub runwayml/stable-diffusion-inpainting")


@dataclass
class Detections:
    """Boxes in pixels (N, 4) xyxy, their scores and phrases."""

    boxes: np.ndarray
    scores: np.ndarray
    phrases: list[str]

    def describe(self) -> str:
        return "; ".join(f"{p} [{', '.join(str(int(v)) for v in b)}] ({s:.2f})"
                         for b, s, p in zip(self.boxes, self.scores, self.phrases))


# ---------------------------------------------------------------- GroundingDINO
class GroundingModel:
    """A loaded GroundingDINO model with its image transform; ``detect`` returns pixel boxes for a caption."""

    def __init__(self, config_path: str, checkpoint: str, text_encoder: str, device: str, image_size: int) -> None:
        import torch
        from groundingdino.models import build_model
        from groundingdino.util.slconfig import SLConfig
        from groundingdino.util.utils import clean_state_dict

        from gpt4tools.compat.groundingdino import ensure_bert_helpers

        ensure_bert_helpers()
        args = SLConfig.fromfile(config_path)
        args.device = device
        args.text_encoder_type = text_encoder
        model = build_model(args)
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception:  # the released checkpoint pickles more than tensors
            log.warning("loading %s with weights_only=False (trusted checkpoint)", checkpoint)
            state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        result = model.load_state_dict(clean_state_dict(state.get("model", state)), strict=False)
        if result.missing_keys:
            log.warning("GroundingDINO: %d missing keys", len(result.missing_keys))
        self.model = model.to(device).eval()
        self.device = device
        self.image_size = image_size

    def detect(self, image: Image.Image, caption: str, box_threshold: float, text_threshold: float) -> Detections:
        import groundingdino.datasets.transforms as T
        import torch
        from groundingdino.util.utils import get_phrases_from_posmap

        transform = T.Compose([T.RandomResize([self.image_size], max_size=1333), T.ToTensor(),
                               T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
        tensor, _ = transform(image, None)
        caption = caption.lower().strip()
        caption = caption if caption.endswith(".") else caption + "."
        with torch.inference_mode():
            out = self.model(tensor[None].to(self.device), captions=[caption])
        logits = out["pred_logits"].float().sigmoid()[0].cpu()
        boxes = out["pred_boxes"].float()[0].cpu()
        keep = logits.max(dim=1)[0] > box_threshold
        logits, boxes = logits[keep], boxes[keep]
        tokenizer = self.model.tokenizer
        tokenized = tokenizer(caption)
        phrases = [get_phrases_from_posmap(logit > text_threshold, tokenized, tokenizer) or caption.rstrip(".")
                   for logit in logits]
        w, h = image.size
        xyxy = torch.stack([boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2,
                            boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2], dim=1) if len(boxes) else \
            boxes.reshape(0, 4)
        xyxy = (xyxy * torch.tensor([w, h, w, h])).clamp(min=0)
        xyxy[:, 0::2] = xyxy[:, 0::2].clamp(max=w)
        xyxy[:, 1::2] = xyxy[:, 1::2].clamp(max=h)
        return Detections(xyxy.numpy(), logits.max(dim=1)[0].numpy(), phrases)


def _default_gdino_config() -> str:
    import importlib.util

    spec = importlib.util.find_spec("groundingdino")
    return str(Path(next(iter(spec.submodule_search_locations))) / "config" / "GroundingDINO_SwinT_OGC.py")


def load_grounding(tool: Tool) -> GroundingModel:
    """The shared GroundingDINO model on the tool's device."""
    checkpoint = tool.weight("groundingdino")
    text_encoder = tool.weight("groundingdino_text_encoder")
    config = tool.weights.get("groundingdino_config") or _default_gdino_config()
    size = int(tool.option("grounding_image_size", 512))
    return tool.shared(("groundingdino", checkpoint, text_encoder, config, size),
                       lambda: GroundingModel(config, checkpoint, text_encoder, tool.device, size))


def detect(tool: Tool, grounding: GroundingModel, image: Image.Image, text: str) -> Detections:
    return grounding.detect(image, text, float(tool.option("box_threshold", 0.3)),
                            float(tool.option("text_threshold", 0.25)))


def draw_boxes(image: Image.Image, dets: Detections, seed: int = 0) -> Image.Image:
    """The image with each box outlined and labelled."""
    rng = np.random.default_rng(seed)
    out = image.copy()
    draw = ImageDraw.Draw(out)
    width = max(1, round(max(image.size) / 100))
    for box, score, phrase in zip(dets.boxes, dets.scores, dets.phrases):
        color = tuple(int(c) for c in rng.integers(0, 255, size=3))
        x0, y0, x1, y1 = (int(v) for v in box)
        draw.rectangle([x0, y0, x1, y1], outline=color, width=width)
        label = f"{phrase}({score:.2f})"
        draw.rectangle(draw.textbbox((x0, y0), label), fill=color)
        draw.text((x0, y0), label, fill="white")
    return out


# ---------------------------------------------------------------- SAM
def build_sam_model(model_type, checkpoint: str):
    """A SAM model: ``model_type`` is ``vit_h``/``vit_l``/``vit_b`` or a dict ``{embed_dim, depth, num_heads,
    global_attn_indexes}`` for other sizes (same classes, e.g. a tiny test model)."""
    from segment_anything import sam_model_registry
    from segment_anything.build_sam import _build_sam

    if isinstance(model_type, str):
        return sam_model_registry[model_type](checkpoint=checkpoint)
    arch = dict(model_type)
    return _build_sam(encoder_embed_dim=int(arch["embed_dim"]), encoder_depth=int(arch["depth"]),
                      encoder_num_heads=int(arch["num_heads"]),
                      encoder_global_attn_indexes=list(arch["global_attn_indexes"]), checkpoint=checkpoint)


def load_sam(tool: Tool):
    """The shared SAM model on the tool's device."""
    checkpoint = tool.weight("sam")
    model_type = tool.option("sam_model_type", "vit_h")
    key_type = model_type if isinstance(model_type, str) else tuple(sorted((k, str(v)) for k, v in dict(model_type).items()))
    return tool.shared(("sam", checkpoint, key_type),
                       lambda: build_sam_model(model_type, checkpoint).to(tool.device).eval())


def masks_for_boxes(sam, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
    """SAM masks (N, H, W) bool for pixel boxes."""
    import torch
    from segment_anything import SamPredictor

    predictor = SamPredictor(sam)
    rgb = np.asarray(image)
    predictor.set_image(rgb)
    device = next(sam.parameters()).device
    boxes_t = predictor.transform.apply_boxes_torch(torch.as_tensor(boxes, dtype=torch.float32), rgb.shape[:2])
    with torch.inference_mode():
        masks, _, _ = predictor.predict_torch(point_coords=None, point_labels=None, boxes=boxes_t.to(device),
                                              multimask_output=False)
    return masks[:, 0].cpu().numpy()


def paint_masks(image: Image.Image, masks: list[np.ndarray], alpha: float, seed: int = 0) -> Image.Image:
    """Colour each mask (in the given order) over the image with opacity ``alpha``."""
    rng = np.random.default_rng(seed)
    out = np.asarray(image).astype(np.float32)
    for mask in masks:
        color = rng.integers(0, 255, size=3).astype(np.float32)
        out[mask] = (1 - alpha) * out[mask] + alpha * color
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


class Segmenting(Tool):
    """SAM automatic masks over the whole image, each painted in its own colour (largest first)."""

    key = "Segmenting"
    backend = "Segment Anything automatic masks (segment-anything)"
    weight_infos = (SAM,)

    def _load(self) -> None:
        self._sam = load_sam(self)

    def run(self, image_path: str) -> str:
        from segment_anything import SamAutomaticMaskGenerator

        path, image = self.open_image(image_path)
        generator = SamAutomaticMaskGenerator(self._sam, points_per_side=int(self.option("sam_points_per_side", 32)),
                                              points_per_batch=int(self.option("sam_points_per_batch", 64)))
        anns = sorted(generator.generate(np.asarray(image)), key=lambda a: a["area"], reverse=True)
        log.info("Segmenting: %d masks", len(anns))
        painted = paint_masks(image, [a["segmentation"] for a in anns], alpha=1.0)
        return self.save_image(painted, path)


class Text2Box(Tool):
    """GroundingDINO open-set detection of the described object; boxes drawn on a new image."""

    key = "Text2Box"
    backend = "GroundingDINO SwinT-OGC (groundingdino-py)"
    weight_infos = (GDINO, GDINO_TEXT)
    last_detections: Detections | None = None

    def _load(self) -> None:
        self._grounding = load_grounding(self)

    def run(self, image_path: str, text: str) -> str:
        path, image = self.open_image(image_path)
        dets = detect(self, self._grounding, image, text)
        self.last_detections = dets
        log.info("Text2Box %r: %s", text, dets.describe() or "nothing")
        return self.save_image(draw_boxes(image, dets), path)


class ObjectSegmenting(Tool):
    """GroundingDINO boxes for the text, then SAM masks inside them (shares both models with the other tools)."""

    key = "ObjectSegmenting"
    backend = "GroundingDINO + SAM"
    weight_infos = (GDINO, GDINO_TEXT, SAM)

    def _load(self) -> None:
        self._grounding = load_grounding(self)
        self._sam = load_sam(self)

    def run(self, image_path: str, text: str) -> str:
        path, image = self.open_image(image_path)
        dets = detect(self, self._grounding, image, text)
        if len(dets.boxes) == 0:
            raise NothingFound(f"{self.spec.name}: no {text!r} found in {image_path}")
        masks = masks_for_boxes(self._sam, image, dets.boxes)
        return self.save_image(draw_boxes(paint_masks(image, list(masks), alpha=0.6), dets), path)


class _Editing(Tool):
    weight_infos = (GDINO, GDINO_TEXT, SAM, SD_INPAINT)

    def _load(self) -> None:
        from diffusers import StableDiffusionInpaintPipeline

        self._grounding = load_grounding(self)
        self._sam = load_sam(self)
        source = self.weight("sd_inpaint")
        dtype = self.torch_dtype

        def build():
            pipe = StableDiffusionInpaintPipeline.from_pretrained(source, torch_dtype=dtype, safety_checker=None,
                                                                  requires_safety_checker=False)
            pipe.set_progress_bar_config(disable=True)
            return pipe.to(self.device)

        self._inpaint = self.shared(("sd_inpaint", source, str(dtype)), build)

    def replace(self, image_path: str, target: str, replacement: str) -> str:
        import cv2
        import torch

        path, image = self.open_image(image_path)
        dets = detect(self, self._grounding, image, target)
        if len(dets.boxes) == 0:
            raise NothingFound(f"{self.spec.name}: no {target!r} found in {image_path}")
        mask = masks_for_boxes(self._sam, image, dets.boxes).any(axis=0).astype(np.uint8) * 255
        pad = int(self.option("mask_padding", 20))
        if pad > 0:
            mask = cv2.dilate(mask, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8))
        size = int(self.option("inpaint_size", 512))
        seed = self.options.get("seed")
        generator = torch.Generator("cpu").manual_seed(int(seed)) if seed is not None else None
        out = self._inpaint(prompt=replacement, image=image.resize((size, size)),
                            mask_image=Image.fromarray(mask).resize((size, size)), height=size, width=size,
                            num_inference_steps=int(self.option("inpaint_steps", 50)), generator=generator).images[0]
        return self.save_image(out.resize(image.size), path)


class ImageRemoving(_Editing):
    """Remove the described object: GroundingDINO + SAM mask, SD inpainting with the prompt "background"."""

    key = "ImageRemoving"
    backend = "GroundingDINO + SAM + SD inpainting"

    def run(self, image_path: str, target: str) -> str:
        return self.replace(image_path, target, "background")


class ImageReplacing(_Editing):
    """Replace the described object with another: GroundingDINO + SAM mask, SD inpainting."""

    key = "ImageReplacing"
    backend = "GroundingDINO + SAM + SD inpainting"

    def run(self, image_path: str, target: str, replacement: str) -> str:
        return self.replace(image_path, target, replacement)
