"""Detection of all objects with a closed-set detector (DETR, COCO classes, transformers)."""

from __future__ import annotations

from gpt4tools.tools.base import Tool
from gpt4tools.tools.weights import WeightInfo

DETR = WeightInfo("detr", "DETR object detector", "hub facebook/detr-resnet-50")


class ObjectDetection(Tool):
    """Every object found, as ``label [x1, y1, x2, y2]`` text (DETR ResNet-50)."""

    key = "ObjectDetection"
    backend = "DETR ResNet-50 (transformers)"
    weight_infos = (DETR,)

    def _load(self) -> None:
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        source = self.weight("detr")
        self._processor, self._model = self.shared(("detr", source), lambda: (
            AutoImageProcessor.from_pretrained(source),
            AutoModelForObjectDetection.from_pretrained(source).to(self.device).eval()))

    def run(self, image_path: str) -> str:
        import torch

        _, image = self.open_image(image_path)
        inputs = self._processor(images=image, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            outputs = self._model(**inputs)
        result = self._processor.post_process_object_detection(
            outputs, threshold=float(self.option("detection_threshold", 0.7)),
            target_sizes=[(image.height, image.width)])[0]
        labels = self._model.config.id2label
        found = sorted(zip(result["scores"].tolist(), result["labels"].tolist(), result["boxes"].tolist()),
                       reverse=True)
        if not found:
            return "No objects detected."
        return "Detected objects: " + "; ".join(
            f"{labels.get(label, str(label))} [{', '.join(str(int(round(v))) for v in box)}]"
            for _, label, box in found)
