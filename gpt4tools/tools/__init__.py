"""The visual tools the tuned LLM drives, with real backends, lazy per-device loading and a sandboxed workspace.

Public API::

    ws = Workspace("run/workspace")
    tools = build_tools(["Image2Canny", "Text2Box"], ws, backends_cfg=cfg.tool_backends)
    observation = tools["Image2Canny"]("image/photo.png")   # loads on first call; returns the new image's path

Every tool raises a ``ToolError`` subclass for bad input; the agent shows its message as the observation.
"""

from gpt4tools.tools.base import Tool
from gpt4tools.tools.errors import (
    BackendUnavailable,
    ImageFileError,
    ImageTooLarge,
    NothingFound,
    PathOutsideWorkspace,
    ToolArgumentError,
    ToolError,
    WeightsNotFound,
)
from gpt4tools.tools.pool import ModelPool
from gpt4tools.tools.registry import LOAD_ALIASES, TOOL_CLASSES, build_tools, parse_load_string
from gpt4tools.tools.workspace import Workspace

__all__ = [
    "BackendUnavailable", "ImageFileError", "ImageTooLarge", "LOAD_ALIASES", "ModelPool", "NothingFound",
    "PathOutsideWorkspace", "TOOL_CLASSES", "Tool", "ToolArgumentError", "ToolError", "Workspace", "WeightsNotFound",
    "build_tools", "parse_load_string",
]
