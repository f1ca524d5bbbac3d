"""What one request produced: its steps and its result (JSON-ready for the turn log and the API)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gpt4tools.agent.protocols import Workspace


@dataclass
class StepRecord:
    """One model step and what came of it.

    ``kind`` is ``answer`` (final reply), ``tool`` (tool ran), ``tool_error`` (tool or path refused
    or failed; the error is the observation) or ``invalid`` (malformed step; counts against retries).
    """

    index: int
    raw: str
    kind: str
    thought: str | None = None
    action: str | None = None
    action_input: str | None = None
    observation: str | None = None
    images: list[str] = field(default_factory=list)
    prompt_ms: float = 0.0
    generate_s: float = 0.0
    tool_s: float = 0.0


@dataclass
class AgentResult:
    """The outcome of one request."""

    request: str
    answer: str
    stop_reason: str  # answer | max_steps | max_retries | time_budget
    steps: list[StepRecord]
    images: list[Path]
    tools_shown: list[str]
    seconds: float

    def to_dict(self, workspace: Workspace | None = None) -> dict[str, Any]:
        """A JSON-ready view (image paths relative to the workspace when one is given)."""
        images = [workspace.relative(p) if workspace is not None else str(p) for p in self.images]
        return {"request": self.request, "answer": self.answer, "stop_reason": self.stop_reason,
                "tools_shown": self.tools_shown, "seconds": round(self.seconds, 3), "images": images,
                "steps": [asdict(s) for s in self.steps]}
