"""The model's side of one API request: steps streamed through the shared model, stopped by the request's Cancel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gpt4tools.agent.llm import GeneratorLLM
from gpt4tools.apps.limits import Cancel


class Cancelled(Exception):
    """The request was stopped (deadline, client gone, shutdown) while the agent was running."""


def stream_step(llm: GeneratorLLM, instruction: str, cancel: Cancel) -> Iterator[str]:
    """One step's text as it is decoded, under the model's lock; it ends at the next token once ``cancel`` is set.

    The pieces join to the text ``llm(instruction)`` writes when decoding is greedy.
    """
    with llm.lock:
        if llm.seed is not None:  # as GeneratorLLM reseeds: repeatable sampling
            import torch

            torch.manual_seed(llm.seed)
        yield from llm.generator.stream(instruction, cancel=cancel.event())


class CancellableLLM:
    """The agent's step writer for one request: each step streams through ``llm`` and stops with the request.

    A step cut short raises :class:`Cancelled`, so the agent does not act on half a step.
    """

    def __init__(self, llm: GeneratorLLM, cancel: Cancel) -> None:
        self.llm = llm
        self.cancel = cancel

    def __call__(self, instruction: str) -> str:
        if self.cancel.is_set():
            raise Cancelled("the request was stopped")
        text = "".join(stream_step(self.llm, instruction, self.cancel))
        if self.cancel.is_set():
            raise Cancelled("the request was stopped")
        return text


def for_request(llm: Any, cancel: Cancel) -> Any:
    """``llm`` made stoppable by ``cancel`` when it generates with a :class:`~gpt4tools.inference.Generator`;
    any other step writer (a scripted test double) as it is."""
    if isinstance(llm, GeneratorLLM):
        return CancellableLLM(llm, cancel)
    return llm
