"""Test doubles for the agent: a workspace, tools and a scripted LLM with the interfaces the agent uses.

They implement the tools package's contract (Workspace, Tool) in a few lines so the loop and the
apps are tested without model weights; the real classes are exercised by the tools' own tests.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from PIL import Image, ImageFilter

from gpt4tools.catalog import OutputKind, ToolSpec, get_tool, parse_action_input


class PathOutsideWorkspace(ValueError):
    """A path that leaves the workspace."""


class FakeWorkspace:
    """Resolves paths inside ``root`` only; saves uploads as 512px PNGs under ``image/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._ids = itertools.count()

    def resolve(self, path_text: str) -> Path:
        path = Path(path_text.strip())
        path = (path if path.is_absolute() else self.root / path).resolve()
        if not path.is_relative_to(self.root):
            raise PathOutsideWorkspace(f"{path_text!r} is outside the workspace")
        return path

    def relative(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.root).as_posix()

    def new_image_path(self, tool_key: str, source: Path | None = None) -> Path:
        path = self.root / "image" / f"{tool_key.lower()}_{next(self._ids):04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def save_upload(self, image: Image.Image, name: str | None = None) -> Path:
        if not isinstance(image, Image.Image):
            raise ValueError(f"upload is a {type(image).__name__}, not an image")
        image = image.convert("RGB")
        scale = 512 / max(image.size)
        w, h = (max(64, round(d * scale / 64) * 64) for d in image.size)
        path = self.new_image_path("upload")
        image.resize((w, h)).save(path)
        return path


class FakeTool:
    """A tool bound to a catalog entry; image tools write an edge-filtered copy of their input image."""

    def __init__(self, key: str, workspace: FakeWorkspace, answer: str = "a person in a space suit",
                 fail: Exception | None = None, available: bool = True) -> None:
        self.spec: ToolSpec = get_tool(key)
        self.workspace = workspace
        self.answer = answer
        self.fail = fail
        self.available = available
        self.calls: list[str] = []
        self._loaded = False

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        self._loaded = True

    def unload(self) -> None:
        self._loaded = False

    def weights_available(self) -> tuple[bool, str]:
        return (True, "") if self.available else (False, f"no weights for {self.spec.key}")

    def __call__(self, action_input: str) -> str:
        self.calls.append(action_input)
        if self.fail is not None:
            raise self.fail
        args = parse_action_input(self.spec, action_input)
        if self.spec.output is OutputKind.TEXT:
            return self.answer
        source = self.workspace.resolve(args[0])
        out = self.workspace.new_image_path(self.spec.key, source)
        Image.open(source).convert("L").filter(ImageFilter.FIND_EDGES).save(out)
        return f"Result saved as {self.workspace.relative(out)}"


class ScriptedLLM:
    """Returns fixed outputs in order (the last one repeats) and records every instruction it got.

    ``{image}`` in an output becomes the last image the instruction's upload turns named, and
    ``{last}`` the last path an observation returned (as a model copies names from its prompt).
    """

    def __init__(self, outputs: Sequence[str]) -> None:
        self.outputs = list(outputs)
        self.instructions: list[str] = []

    def __call__(self, instruction: str) -> str:
        self.instructions.append(instruction)
        text = self.outputs[min(len(self.instructions) - 1, len(self.outputs) - 1)]
        if images := re.findall(r"Provide an image named (\S+)\. Description:", instruction):
            text = text.replace("{image}", images[-1])
        if paths := re.findall(r"Observation: (?:Result saved as )?(\S+\.png)", instruction):
            text = text.replace("{last}", paths[-1])
        return text

    def stream(self, instruction: str) -> Iterator[str]:
        text = self(instruction)
        for i in range(0, len(text), 4):
            yield text[i:i + 4]


def step(action: str, action_input: str) -> str:
    """A model output that calls a tool (as generation leaves it: cut before Observation)."""
    return f"Thought: Do I need to use a tool? Yes\nAction: {action}\nAction Input: {action_input}"


def reply(text: str) -> str:
    """A model output that answers."""
    return f"Thought: Do I need to use a tool? No\nAI: {text}"
