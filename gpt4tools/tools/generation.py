"""Image generators on Stable Diffusion 1.5 (diffusers): text-to-image, InstructPix2Pix, eight ControlNets."""

from __future__ import annotations

import logging
import random

from PIL import Image

from gpt4tools.tools.base import Tool
from gpt4tools.tools.weights import WeightInfo

log = logging.getLogger(__name__)

SD15 = WeightInfo("sd15", "Stable Diffusion 1.5 pipeline", "hub runwayml/stable-diffusion-v1-5")
PIX2PIX = WeightInfo("instruct_pix2pix", "InstructPix2Pix pipeline", "hub timbrooks/instruct-pix2pix")
A_PROMPT = "best quality, extremely detailed"
N_PROMPT = ("longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, cropped, "
            "worst quality, low quality")


def _generator(tool: Tool):
    """A seeded torch generator: ``options.seed`` or a fresh random seed per call (as the original)."""
    import torch

    seed = tool.options.get("seed")
    seed = random.randint(0, 65535) if seed is None else int(seed)
    log.info("%s seed %d", tool.key, seed)
    return torch.Generator(device="cpu").manual_seed(seed)


def _multiple_of_8(image: Image.Image) -> Image.Image:
    w, h = max(8, image.width // 8 * 8), max(8, image.height // 8 * 8)
    return image if (w, h) == image.size else image.resize((w, h))


def load_sd15(tool: Tool):
    """The shared SD-1.5 text-to-image pipeline on the tool's device (no safety checker, as the original)."""
    from diffusers import StableDiffusionPipeline

    source = tool.weight("sd15")
    dtype = tool.torch_dtype

    def build():
        pipe = StableDiffusionPipeline.from_pretrained(source, torch_dtype=dtype, safety_checker=None,
                                                       requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(tool.device)

    return tool.shared(("sd15", source, str(dtype)), build)


class Text2Image(Tool):
    """SD-1.5 text-to-image."""

    key = "Text2Image"
    backend = "Stable Diffusion 1.5 (diffusers)"
    weight_infos = (SD15,)

    def _load(self) -> None:
        self._pipe = load_sd15(self)

    def run(self, text: str) -> str:
        out = self._pipe(f"{text}, {A_PROMPT}", negative_prompt=N_PROMPT,
                         num_inference_steps=int(self.option("num_inference_steps", 50)),
                         height=self.options.get("height"), width=self.options.get("width"),
                         generator=_generator(self)).images[0]
        return self.save_image(out, None)


class InstructPix2Pix(Tool):
    """InstructPix2Pix image editing with an Euler-ancestral scheduler (40 steps, image guidance 1.2)."""

    key = "InstructPix2Pix"
    backend = "InstructPix2Pix (diffusers)"
    weight_infos = (PIX2PIX,)

    def _load(self) -> None:
        from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline

        source = self.weight("instruct_pix2pix")
        dtype = self.torch_dtype

        def build():
            pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(
                source, torch_dtype=dtype, safety_checker=None, requires_safety_checker=False)
            pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
            pipe.set_progress_bar_config(disable=True)
            return pipe.to(self.device)

        self._pipe = self.shared(("instruct_pix2pix", source, str(dtype)), build)

    def run(self, image_path: str, text: str) -> str:
        path, image = self.open_image(image_path)
        out = self._pipe(text, image=_multiple_of_8(image),
                         num_inference_steps=int(self.option("pix2pix_steps", 40)),
                         image_guidance_scale=float(self.option("image_guidance_scale", 1.2)),
                         generator=_generator(self)).images[0]
        return self.save_image(out.resize(image.size), path)


class ControlNetText2Image(Tool):
    """SD-1.5 + one ControlNet, UniPC scheduler, 20 steps, guidance 9 (as the original).

    The SD-1.5 components (UNet, VAE, text encoder) come from the shared pool, so all ControlNet tools and
    Text2Image on one device hold one copy; each tool adds only its ControlNet.
    """

    condition: str = ""

    def _load(self) -> None:
        from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, UniPCMultistepScheduler

        base = load_sd15(self)
        name = self.weight_infos[1].name
        source = self.weight(name)
        dtype = self.torch_dtype
        controlnet = self.shared((name, source, str(dtype)), lambda: ControlNetModel.from_pretrained(
            source, torch_dtype=dtype).to(self.device))
        components = dict(base.components)
        components["scheduler"] = UniPCMultistepScheduler.from_config(base.scheduler.config)
        components["safety_checker"] = None
        self._pipe = StableDiffusionControlNetPipeline(**components, controlnet=controlnet,
                                                       requires_safety_checker=False)
        self._pipe.set_progress_bar_config(disable=True)

    def unload(self) -> None:
        self._pipe = None
        super().unload()

    def run(self, image_path: str, text: str) -> str:
        path, image = self.open_image(image_path)
        condition = _multiple_of_8(image)
        out = self._pipe(f"{text}, {A_PROMPT}", condition, negative_prompt=N_PROMPT,
                         num_inference_steps=int(self.option("num_inference_steps", 20)), eta=0.0,
                         guidance_scale=float(self.option("guidance_scale", 9.0)),
                         height=condition.height, width=condition.width,
                         generator=_generator(self)).images[0]
        return self.save_image(out, path)


def _controlnet_tool(key: str, condition: str, hub_id: str) -> type[ControlNetText2Image]:
    info = WeightInfo(f"controlnet_{condition}", f"ControlNet ({condition}) for SD-1.5", f"hub {hub_id}")
    doc = f"SD-1.5 + ControlNet conditioned on a {condition} image (diffusers, UniPC)."
    return type(key, (ControlNetText2Image,), {
        "key": key, "condition": condition, "backend": f"ControlNet {condition} + SD-1.5 (diffusers)",
        "weight_infos": (SD15, info), "__doc__": doc, "__module__": __name__,
    })


CannyText2Image = _controlnet_tool("CannyText2Image", "canny", "lllyasviel/sd-controlnet-canny")
LineText2Image = _controlnet_tool("LineText2Image", "mlsd", "lllyasviel/sd-controlnet-mlsd")
HedText2Image = _controlnet_tool("HedText2Image", "hed", "lllyasviel/sd-controlnet-hed")
ScribbleText2Image = _controlnet_tool("ScribbleText2Image", "scribble", "lllyasviel/sd-controlnet-scribble")
PoseText2Image = _controlnet_tool("PoseText2Image", "openpose", "lllyasviel/sd-controlnet-openpose")
SegText2Image = _controlnet_tool("SegText2Image", "seg", "lllyasviel/sd-controlnet-seg")
DepthText2Image = _controlnet_tool("DepthText2Image", "depth", "lllyasviel/sd-controlnet-depth")
NormalText2Image = _controlnet_tool("NormalText2Image", "normal", "lllyasviel/sd-controlnet-normal")
