"""The tool catalog: the single source of truth for every tool the framework knows.

Data generation, the prompt, the strict scorer, the visual tools and the agent all read this module.
It needs no model weights. Names and descriptions are those of the original GPT4Tools release so
official data files and released adapters line up with prompts built here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum


class ArgKind(str, Enum):
    """Kind of one tool argument."""

    IMAGE = "image"  # an image path inside the workspace
    TEXT = "text"  # free text (may contain commas)
    BOX = "box"  # a bounding box "[x1, y1, x2, y2]"


class OutputKind(str, Enum):
    """What a tool returns as its observation."""

    IMAGE = "image"  # a new image file; the observation is its path
    TEXT = "text"  # a text answer


@dataclass(frozen=True)
class ToolSpec:
    """One catalog entry.

    Attributes:
        key: stable identifier used in configs and ``--load`` strings (``Text2Box``).
        name: the tool name the LLM sees and writes after ``Action:``.
        description: the usage text the LLM sees after the name.
        args: kinds of the arguments, in order (``Action Input`` joins them with ", ").
        output: kind of the observation.
        prerequisite: key of the tool whose output this tool consumes in a forced two-step chain.
        split: "seen" for the 23 training tools, "unseen" for tools held out of training by default.
        arg_names: a short name per argument (for the teacher prompt and error messages).
    """

    key: str
    name: str
    description: str
    args: tuple[ArgKind, ...]
    output: OutputKind
    prerequisite: str | None = None
    split: str = "seen"
    arg_names: tuple[str, ...] = field(default=())

    @property
    def num_args(self) -> int:
        return len(self.args)

    @property
    def needs_image(self) -> bool:
        return bool(self.args) and self.args[0] is ArgKind.IMAGE

    def prompt_line(self) -> str:
        """The ``> name: description`` line shown under ``TOOLS:`` in the prompt."""
        return f"> {self.name}: {self.description}"


_I, _T, _B = ArgKind.IMAGE, ArgKind.TEXT, ArgKind.BOX
_IMG, _TXT = OutputKind.IMAGE, OutputKind.TEXT
_IMG_DESC = ("image_path", "user description")


def _spec(key, name, description, args, output, prerequisite=None, split="seen", arg_names=None) -> ToolSpec:
    default_names = {1: ("image_path",), 2: _IMG_DESC}
    if arg_names is None:
        arg_names = ("text",) if args == (_T,) else default_names.get(len(args), tuple(a.value for a in args))
    return ToolSpec(key, name, description, tuple(args), output, prerequisite, split, tuple(arg_names))


_SPECS: list[ToolSpec] = [
    _spec("Text2Box", "Detect the Give Object",
          "useful when you only want to detect or find out given objects in the pictureThe input to this tool should be a comma separated string of two, representing the image_path, the text description of the object to be found",
          (_I, _T), _TXT, arg_names=("image_path", "object")),
    _spec("Segmenting", "Segment the Image",
          "useful when you want to segment all the part of the image, but not segment a certain object.like: segment all the object in this image, or generate segmentations on this image, or segment the image,or perform segmentation on this image, or segment all the object in this image.The input to this tool should be a string, representing the image_path",
          (_I,), _IMG),
    _spec("ImageCaptioning", "Get Photo Description",
          "useful when you want to know what is inside the photo. receives image_path as input. The input to this tool should be a string, representing the image_path.",
          (_I,), _TXT),
    _spec("Text2Image", "Generate Image From User Input Text",
          "useful when you want to generate an image from a user input text and save it to a file. like: generate an image of an object or something, or generate an image that includes some objects. The input to this tool should be a string, representing the text used to generate image.",
          (_T,), _IMG),
    _spec("Image2Canny", "Edge Detection On Image",
          "useful when you want to detect the edge of the image. like: detect the edges of this image, or canny detection on image, or perform edge detection on this image, or detect the canny image of this image. The input to this tool should be a string, representing the image_path",
          (_I,), _IMG),
    _spec("CannyText2Image", "Generate Image Condition On Canny Image",
          "useful when you want to generate a new real image from both the user description and a canny image. like: generate a real image of a object or something from this canny image, or generate a new real image of a object or something from this edge image. The input to this tool should be a comma separated string of two, representing the image_path and the user description.",
          (_I, _T), _IMG, prerequisite="Image2Canny"),
    _spec("Image2Depth", "Predict Depth On Image",
          "useful when you want to detect depth of the image. like: generate the depth from this image, or detect the depth map on this image, or predict the depth for this image. The input to this tool should be a string, representing the image_path",
          (_I,), _IMG),
    _spec("DepthText2Image", "Generate Image Condition On Depth",
          "useful when you want to generate a new real image from both the user description and depth image. like: generate a real image of a object or something from this depth image, or generate a new real image of a object or something from the depth map. The input to this tool should be a comma separated string of two, representing the image_path and the user description",
          (_I, _T), _IMG, prerequisite="Image2Depth"),
    _spec("VisualQuestionAnswering", "Answer Question About The Image",
          "useful when you need an answer for a question based on an image. like: what is the background color of the last image, how many cats in this figure, what is in this figure. The input to this tool should be a comma separated string of two, representing the image_path and the question",
          (_I, _T), _TXT, arg_names=("image_path", "question")),
    _spec("InstructPix2Pix", "Instruct Image Using Text",
          "useful when you want to the style of the image to be like the text. like: make it look like a painting. or make it like a robot. The input to this tool should be a comma separated string of two, representing the image_path and the text.",
          (_I, _T), _IMG, arg_names=("image_path", "text")),
    _spec("Image2Scribble", "Sketch Detection On Image",
          "useful when you want to generate a scribble of the image. like: generate a scribble of this image, or generate a sketch from this image, detect the sketch from this image. The input to this tool should be a string, representing the image_path",
          (_I,), _IMG),
    _spec("ScribbleText2Image", "Generate Image Condition On Sketch Image",
          "useful when you want to generate a new real image from both the user description and a scribble image or a sketch image. The input to this tool should be a comma separated string of two, representing the image_path and the user description",
          (_I, _T), _IMG, prerequisite="Image2Scribble"),
    _spec("SegText2Image", "Generate Image Condition On Segmentations",
          "useful when you want to generate a new real image from both the user description and segmentations. like: generate a real image of a object or something from this segmentation image, or generate a new real image of a object or something from these segmentations. The input to this tool should be a comma separated string of two, representing the image_path and the user description",
          (_I, _T), _IMG, prerequisite="Segmenting"),
    _spec("Image2Pose", "Pose Detection On Image",
          "useful when you want to detect the human pose of the image. like: generate human poses of this image, or generate a pose image from this image. The input to this tool should be a string, representing the image_path",
          (_I,), _IMG),
    _spec("PoseText2Image", "Generate Image Condition On Pose Image",
          "useful when you want to generate a new real image from both the user description and a human pose image. like: generate a real image of a human from this human pose image, or generate a new real image of a human from this pose. The input to this tool should be a comma separated string of two, representing the image_path and the user description",
          (_I, _T), _IMG, prerequisite="Image2Pose"),
    _spec("Image2Hed", "Hed Detection On Image",
          "useful when you want to detect the soft hed boundary of the image. like: detect the soft hed boundary of this image, or hed boundary detection on image, or perform hed boundary detection on this image, or detect soft hed boundary image of this image. The input to this tool should be a string, representing the image_path",
          (_I,), _IMG),
    _spec("HedText2Image", "Generate Image Condition On Soft Hed Boundary Image",
          "useful when you want to generate a new real image from both the user description and a soft hed boundary image. like: generate a real image of a object or something from this soft hed boundary image, or generate a new real image of a object or something from this hed boundary. The input to this tool should be a comma separated string of two, representing the image_path and the user description",
          (_I, _T), _IMG, prerequisite="Image2Hed"),
    _spec("Image2Normal", "Predict Normal Map On Image",
          "useful when you want to detect norm map of the image. like: generate normal map from this image, or predict normal map of this image. The input to this tool should be a string, representing the image_path",
          (_I,), _IMG),
    _spec("NormalText2Image", "Generate Image Condition On Normal Map",
          "useful when you want to generate a new real image from both the user description and normal map. like: generate a real image of a object or something from this normal map, or generate a new real image of a object or something from the normal map. The input to this tool should be a comma separated string of two, representing the image_path and the user description",
          (_I, _T), _IMG, prerequisite="Image2Normal"),
    _spec("Image2Line", "Line Detection On Image",
          "useful when you want to detect the straight line of the image. like: detect the straight lines of this image, or straight line detection on image, or perform straight line detection on this image, or detect the straight line image of this image. The input to this tool should be a string, representing the image_path",
          (_I,), _IMG),
    _spec("ObjectSegmenting", "Segment the given object",
          "useful when you only want to segment the certain objects in the pictureaccording to the given textlike: segment the cat,or can you segment an obeject for meThe input to this tool should be a comma separated string of two, representing the image_path, the text description of the object to be found",
          (_I, _T), _IMG, arg_names=("image_path", "object")),
    _spec("ImageRemoving", "Remove Something From The Photo",
          "useful when you want to remove and object or something from the photo from its description or location. The input to this tool should be a comma separated string of two, representing the image_path and the object need to be removed.",
          (_I, _T), _IMG, arg_names=("image_path", "object")),
    _spec("ImageReplacing", "Replace Something From The Photo",
          "useful when you want to replace an object from the object description or location with another object from its description. The input to this tool should be a comma separated string of three, representing the image_path, the object to be replaced, the object to be replaced with",
          (_I, _T, _T), _IMG, arg_names=("image_path", "object", "replacement")),
    # Held out of training by default: the three teacher-only extras and the line-image generator.
    _spec("ImageCropping", "Crop Image",
          "useful when you want to crop a region or a part from the image. The input to this tool should be a comma separated string of two, representing the image_path and the coordinates with the format of [x1, y1, x2, y2] that represents the top left and bottom right of the cropped region.",
          (_I, _B), _IMG, split="unseen", arg_names=("image_path", "box")),
    _spec("TextDetection", "Text Detection On Image",
          "useful when you want to detect the text in the image. The input to this tool should be a string, representing the image_path.",
          (_I,), _TXT, split="unseen"),
    _spec("ObjectDetection", "Detection",
          "useful when you want to detect all objects of the image, but not detect a certain object according to the text. like: detect all the objects in this image, or detect this image. The input to this tool should be a string, representing the image_path.",
          (_I,), _TXT, split="unseen"),
    _spec("LineText2Image", "Generate Image Condition On Line Image",
          "useful when you want to generate a new real image from both the user description and a straight line image. like: generate a real image of a object or something from this straight line image, or generate a new real image of a object or something from this straight lines. The input to this tool should be a comma separated string of two, representing the image_path and the user description.",
          (_I, _T), _IMG, prerequisite="Image2Line", split="unseen"),
]

CATALOG: dict[str, ToolSpec] = {spec.key: spec for spec in _SPECS}
"""Every tool by key, in catalog order."""

_BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in _SPECS}


def get_tool(key_or_name: str) -> ToolSpec:
    """Look a tool up by key (``Text2Box``) or exact LLM-facing name (``Detect the Give Object``)."""
    if key_or_name in CATALOG:
        return CATALOG[key_or_name]
    if key_or_name in _BY_NAME:
        return _BY_NAME[key_or_name]
    raise KeyError(f"unknown tool {key_or_name!r}; known keys: {', '.join(CATALOG)}")


def find_by_name(name: str) -> ToolSpec | None:
    """The tool whose LLM-facing name equals ``name`` (case-insensitive, stripped), or None."""
    wanted = name.strip().lower()
    for spec in _SPECS:
        if spec.name.lower() == wanted:
            return spec
    return None


def tool_names() -> list[str]:
    """LLM-facing names of every tool, in catalog order."""
    return [spec.name for spec in _SPECS]


def select_tools(
    split: str | Iterable[str] = "all",
    include: Iterable[str] | Mapping[str, object] | None = None,
    exclude: Iterable[str] | Mapping[str, object] | None = None,
) -> list[ToolSpec]:
    """Choose a tool subset.

    Args:
        split: "all", "seen", "unseen", or an explicit list of keys.
        include: keys that must be present (added when missing). A mapping is read by its keys, so a
            Hydra dict node works and ``~tools.include.Text2Image`` removes one entry from the command line.
        exclude: keys removed from the result.

    Returns:
        The chosen specs in catalog order.
    """
    if isinstance(split, str):
        if split == "all":
            keys = list(CATALOG)
        elif split in ("seen", "unseen"):
            keys = [k for k, s in CATALOG.items() if s.split == split]
        else:
            raise ValueError(f"unknown tool split {split!r}: use all, seen, unseen or a list of keys")
    else:
        keys = list(split)
    keys += [k for k in (include or ()) if k not in keys]
    dropped = set(exclude or ())
    for key in [*keys, *dropped]:
        get_tool(key)  # validates
    chosen = {get_tool(k).key for k in keys if k not in dropped}
    return [spec for key, spec in CATALOG.items() if key in chosen]


_BOX_RE = r"\[\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*\]"


class ArgumentError(ValueError):
    """An ``Action Input`` that does not fit the tool's argument schema."""


def parse_action_input(spec: ToolSpec, text: str) -> list[str]:
    """Split an ``Action Input`` string into the tool's arguments by its schema.

    Unlike a plain comma split, commas inside a text argument survive: an image path never holds
    a comma, so it is cut at the first comma; a box is matched as ``[x1, y1, x2, y2]``; with two
    text arguments (Replace) the first ends at the first comma and the second takes the rest.

    Raises:
        ArgumentError: when the input cannot hold the schema's arguments.
    """
    text = text.strip().strip('"').strip()
    kinds = list(spec.args)
    if not kinds:
        return []
    if len(kinds) == 1:
        if not text:
            raise ArgumentError(f"{spec.name}: empty input, expected {spec.arg_names[0]}")
        if kinds[0] is ArgKind.IMAGE and "," in text:
            raise ArgumentError(f"{spec.name}: expected one image path, got {text!r}")
        return [text]
    out: list[str] = []
    rest = text
    for i, kind in enumerate(kinds):
        last = i == len(kinds) - 1
        if kind is ArgKind.BOX:
            m = re.match(r"\s*(" + _BOX_RE + r")\s*(?:,|$)", rest)
            if not m:
                raise ArgumentError(f"{spec.name}: expected a box [x1, y1, x2, y2], got {rest!r}")
            out.append(re.sub(r"\s+", "", m.group(1)).replace(",", ", "))
            rest = rest[m.end():]
        elif last:
            out.append(rest.strip())
            rest = ""
        else:
            head, sep, tail = rest.partition(",")
            if not sep:
                raise ArgumentError(
                    f"{spec.name}: expected {spec.num_args} arguments ({', '.join(spec.arg_names)}), got {text!r}"
                )
            out.append(head.strip())
            rest = tail
    if any(not a for a in out) or rest.strip():
        raise ArgumentError(f"{spec.name}: expected {spec.num_args} arguments ({', '.join(spec.arg_names)}), got {text!r}")
    return out


def format_action_input(args: Iterable[str]) -> str:
    """Join arguments the way the original data does (``", "``)."""
    return ", ".join(a.strip() for a in args)
