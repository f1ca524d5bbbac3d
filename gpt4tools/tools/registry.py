"""Which class implements each catalog tool, and building a tool set from config and ``--load`` strings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpt4tools.catalog import CATALOG, get_tool
from gpt4tools.tools import captioning, detection, detectors, generation, grounding, ocr
from gpt4tools.tools.base import Tool
from gpt4tools.tools.pool import ModelPool
from gpt4tools.tools.workspace import Workspace

TOOL_CLASSES: dict[str, type[Tool]] = {
    "Text2Box": grounding.Text2Box,
    "Segmenting": grounding.Segmenting,
    "ImageCaptioning": captioning.ImageCaptioning,
    "Text2Image": generation.Text2Image,
    "Image2Canny": detectors.Image2Canny,
    "CannyText2Image": generation.CannyText2Image,
    "Image2Depth": detectors.Image2Depth,
    "DepthText2Image": generation.DepthText2Image,
    "VisualQuestionAnswering": captioning.VisualQuestionAnswering,
    "InstructPix2Pix": generation.InstructPix2Pix,
    "Image2Scribble": detectors.Image2Scribble,
    "ScribbleText2Image": generation.ScribbleText2Image,
    "SegText2Image": generation.SegText2Image,
    "Image2Pose": detectors.Image2Pose,
    "PoseText2Image": generation.PoseText2Image,
    "Image2Hed": detectors.Image2Hed,
    "HedText2Image": generation.HedText2Image,
    "Image2Normal": detectors.Image2Normal,
    "NormalText2Image": generation.NormalText2Image,
    "Image2Line": detectors.Image2Line,
    "ObjectSegmenting": grounding.ObjectSegmenting,
    "ImageRemoving": grounding.ImageRemoving,
    "ImageReplacing": grounding.ImageReplacing,
    "ImageCropping": detectors.ImageCropping,
    "TextDetection": ocr.TextDetection,
    "ObjectDetection": detection.ObjectDetection,
    "LineText2Image": generation.LineText2Image,
}
"""Catalog key -> implementing class (every catalog entry has one)."""

LOAD_ALIASES: dict[str, tuple[str, ...]] = {
    "ImageEditing": ("ImageRemoving", "ImageReplacing"),
    "Inpainting": ("ImageRemoving", "ImageReplacing"),
}
"""Class names of the original ``--load`` string that are not catalog keys, and the tools they stand for."""


def parse_load_string(text: str) -> dict[str, str]:
    """Parse the original ``--load`` string (``"Text2Box_cuda:0,Segmenting_cpu"``) into ``{key: device}``.

    Original class names that differ from our keys are mapped (``ImageEditing`` / ``Inpainting`` -> the remove
    and replace tools). As in the original, composite tools whose parts are all listed are added:
    ``Text2Box`` + ``Segmenting`` give ``ObjectSegmenting`` (on the device of ``Segmenting``).

    Raises:
        ValueError: an item without ``_device`` or an unknown tool name.
    """
    out: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, device = item.rpartition("_")
        if not sep or not name or not device:
            raise ValueError(f"--load item {item!r}: expected <Tool>_<device>, e.g. Text2Box_cuda:0")
        if not (device == "cpu" or device.startswith(("cuda", "mps"))):
            raise ValueError(f"--load item {item!r}: unknown device {device!r} (cpu, cuda, cuda:N, mps)")
        if name in LOAD_ALIASES:
            keys = LOAD_ALIASES[name]
        elif name in CATALOG:
            keys = (name,)
        else:
            raise ValueError(f"--load item {item!r}: unknown tool {name!r}; known: "
                             f"{', '.join([*CATALOG, *LOAD_ALIASES])}")
        for key in keys:
            out[key] = device
    if "Text2Box" in out and "Segmenting" in out and "ObjectSegmenting" not in out:
        out["ObjectSegmenting"] = out["Segmenting"]
    return out


def _plain(cfg: Mapping | None) -> dict[str, Any]:
    if cfg is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except ImportError:  # pragma: no cover
        pass
    return dict(cfg)


def build_tools(keys: list[str] | None, workspace: Workspace, backends_cfg: Mapping | None = None,
                load: str | None = None, pool: ModelPool | None = None) -> dict[str, Tool]:
    """Instantiate tools (nothing is loaded) keyed by catalog key, in catalog order.

    Args:
        keys: catalog keys (or LLM-facing names) to build; None means every tool.
        workspace: where the tools read and write.
        backends_cfg: the ``tool_backends`` config: ``device`` (default device), ``devices`` (per-key device),
            ``weights`` (named weights: hub ids or local paths), ``options`` (backend knobs), ``load``.
        load: an original ``--load`` string; when given (here or as ``backends_cfg.load``) it selects the
            tools and their devices, overriding ``keys`` and the configured devices.
        pool: the model pool shared by the tools (a fresh one by default).
    """
    cfg = _plain(backends_cfg)
    load = load if load is not None else cfg.get("load")
    devices: dict[str, str] = {k: str(v) for k, v in (cfg.get("devices") or {}).items() if v}
    if load:
        selected_devices = parse_load_string(load)
        selected = list(selected_devices)
        devices.update(selected_devices)
    else:
        selected = [get_tool(k).key for k in keys] if keys is not None else list(CATALOG)
    default_device = str(cfg.get("device") or "cpu")
    weights = dict(cfg.get("weights") or {})
    options = dict(cfg.get("options") or {})
    pool = pool if pool is not None else ModelPool()
    chosen = set(selected)
    return {key: TOOL_CLASSES[key](workspace, device=devices.get(key, default_device), weights=weights,
                                   options=options, pool=pool)
            for key in CATALOG if key in chosen}
