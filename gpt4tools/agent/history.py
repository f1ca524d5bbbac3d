"""The conversation the prompt shows under ``Previous conversation:``, trimmed to the last turns."""

from __future__ import annotations

from dataclasses import dataclass, field

from gpt4tools.prompt import image_upload_turn


@dataclass(frozen=True)
class Turn:
    """One exchange: what the human said and what the AI answered (an upload's answer is ``Received.``)."""

    human: str
    ai: str
    image: str | None = None  # the workspace path an upload turn introduced

    def render(self) -> str:
        if self.image is not None:
            return self.human  # image_upload_turn already holds both lines
        return f"Human: {self.human}\nAI: {self.ai}"


@dataclass
class ChatHistory:
    """Turns of one conversation, of which only the last ``max_turns`` are kept.

    Trimming drops the oldest turns from memory, not just from the rendering. The most recent image
    upload is kept even when it is older than that (the model must still know the image's name),
    unless ``keep_last_upload`` is False.
    """

    max_turns: int = 5
    keep_last_upload: bool = True
    turns: list[Turn] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")

    def add_upload(self, image_path: str, caption: str) -> Turn:
        """Record an uploaded image as the original's upload turn."""
        turn = Turn(image_upload_turn(image_path, caption), "Received.", image=image_path)
        self._append(turn)
        return turn

    def add_exchange(self, human: str, ai: str) -> Turn:
        """Record a request and the agent's final answer."""
        turn = Turn(human, ai)
        self._append(turn)
        return turn

    @property
    def last_image(self) -> str | None:
        """The workspace path of the most recently uploaded image, if any."""
        return next((t.image for t in reversed(self.turns) if t.image is not None), None)

    def _append(self, turn: Turn) -> None:
        self.turns.append(turn)
        if len(self.turns) <= self.max_turns:
            return
        kept = self.turns[-self.max_turns:]
        if self.keep_last_upload and not any(t.image for t in kept):
            upload = next((t for t in reversed(self.turns) if t.image is not None), None)
            if upload is not None:
                kept = [upload, *self.turns[-(self.max_turns - 1):]] if self.max_turns > 1 else [upload]
        self.turns = kept

    def render(self) -> str:
        """The ``{chat_history}`` text of the prompt."""
        return "\n".join(t.render() for t in self.turns)

    def clear(self) -> None:
        self.turns.clear()
