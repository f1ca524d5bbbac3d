"""What the agent needs from tools, the workspace and the language model (structural types).

The concrete classes live in :mod:`gpt4tools.tools` (tools, workspace) and :mod:`gpt4tools.agent.llm`
(model); tests pass small doubles that implement the same methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from gpt4tools.catalog import ToolSpec


@runtime_checkable
class Workspace(Protocol):
    """The folder every image the agent reads or writes lives in."""

    root: Path

    def resolve(self, path_text: str) -> Path:
        """The absolute path of ``path_text``; raises ``PathOutsideWorkspace`` for escapes."""

    def relative(self, path: Path) -> str:
        """``path`` as the model sees it (relative to the root)."""

    def save_upload(self, image: Any, name: str | None = None) -> Path:
        """Validate, resize (long side 512, multiples of 64) and save an uploaded image."""


@runtime_checkable
class Tool(Protocol):
    """A runnable tool bound to a catalog entry."""

    spec: ToolSpec

    @property
    def is_loaded(self) -> bool: ...

    def load(self) -> None: ...

    def weights_available(self) -> tuple[bool, str]: ...

    def __call__(self, action_input: str) -> str:
        """Run on an ``Action Input`` string and return the observation text."""


@runtime_checkable
class StepLLM(Protocol):
    """Writes one assistant step (cut before ``Observation:``) for a GPT4Tools instruction."""

    def __call__(self, instruction: str) -> str: ...


@runtime_checkable
class StreamingLLM(StepLLM, Protocol):
    """A step writer that can also yield the step piece by piece."""

    def stream(self, instruction: str) -> Iterator[str]: ...
