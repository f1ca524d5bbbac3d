"""One conversation with an agent: its history and the id that tags its lines in the turn log."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from gpt4tools.agent.history import ChatHistory
from gpt4tools.agent.loop import Agent
from gpt4tools.agent.records import AgentResult, StepRecord


def new_session_id() -> str:
    """A short random id that tags one conversation's lines in the turn log."""
    return uuid.uuid4().hex[:12]


class ChatSession:
    """One conversation with an agent: its history and session id."""

    def __init__(self, agent: Agent, history_turns: int = 5) -> None:
        self.agent = agent
        self.history = ChatHistory(max_turns=history_turns)
        self.id = new_session_id()

    def upload(self, image: Any) -> str:
        """Add an image to the conversation; returns its workspace path."""
        return self.agent.upload(image, self.history, session=self.id)

    def ask(self, text: str, on_step: Callable[[StepRecord], None] | None = None) -> AgentResult:
        """Run one request in this conversation."""
        return self.agent.run(text, self.history, session=self.id, on_step=on_step)

    def reset(self) -> None:
        self.history.clear()
