"""Errors a tool raises; the agent turns each into an observation instead of crashing."""

from __future__ import annotations

from gpt4tools.catalog import ArgumentError
from gpt4tools.utils.errors import Gpt4ToolsError


class ToolError(Gpt4ToolsError):
    """Base class of every error a tool call can raise."""


class ToolArgumentError(ToolError, ArgumentError):
    """An ``Action Input`` that does not fit the tool's argument schema."""


class PathOutsideWorkspace(ToolError):
    """A path from the LLM that resolves outside the agent's workspace (``../``, absolute, symlink)."""


class ImageFileError(ToolError):
    """A missing, unreadable, too large or otherwise invalid image file."""


class ImageTooLarge(ImageFileError):
    """An image file over the byte or pixel limit, or a decompression bomb (refused before it is decoded)."""


class WeightsNotFound(ToolError):
    """The weights a tool needs are not available here; the message says which and how to provide them."""


class BackendUnavailable(ToolError):
    """A Python package a tool's backend needs is not installed."""


class NothingFound(ToolError):
    """The detector found nothing matching the request (e.g. no object to segment or remove)."""
