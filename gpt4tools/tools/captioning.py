"""BLIP captioning and visual question answering (transformers)."""

from __future__ import annotations

from gpt4tools.tools.base import Tool
from gpt4tools.tools.weights import WeightInfo

BLIP_CAPTION = WeightInfo("blip_caption", "BLIP captioning model", "hub Salesforce/blip-image-captioning-base")
BLIP_VQA = WeightInfo("blip_vqa", "BLIP VQA model", "hub Salesforce/blip-vqa-base")


class _Blip(Tool):
    model_class: str = ""

    def _load(self) -> None:
        import transformers

        info = self.weight_infos[0]
        source = self.weight(info.name)
        dtype = self.torch_dtype
        model_cls = getattr(transformers, self.model_class)

        def build():
            processor = transformers.BlipProcessor.from_pretrained(source)
            model = model_cls.from_pretrained(source, dtype=dtype).to(self.device).eval()
            return processor, model

        self._processor, self._model = self.shared((info.name, source, str(dtype)), build)

    def _generate(self, image, text: str | None = None) -> str:
        import torch

        inputs = self._processor(images=image, text=text, return_tensors="pt").to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.torch_dtype)
        with torch.inference_mode():
            out = self._model.generate(**inputs, max_new_tokens=int(self.option("max_new_tokens", 30)))
        return self._processor.decode(out[0], skip_special_tokens=True).strip()


class ImageCaptioning(_Blip):
    """A caption of the image (BLIP base)."""

    key = "ImageCaptioning"
    backend = "BLIP captioning (transformers)"
    weight_infos = (BLIP_CAPTION,)
    model_class = "BlipForConditionalGeneration"

    def run(self, image_path: str) -> str:
        _, image = self.open_image(image_path)
        return self._generate(image)


class VisualQuestionAnswering(_Blip):
    """An answer to a question about the image (BLIP VQA base)."""

    key = "VisualQuestionAnswering"
    backend = "BLIP VQA (transformers)"
    weight_infos = (BLIP_VQA,)
    model_class = "BlipForQuestionAnswering"

    def run(self, image_path: str, question: str) -> str:
        _, image = self.open_image(image_path)
        return self._generate(image, question)
