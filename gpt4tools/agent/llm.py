"""The model side of the agent: one assistant step per call through the shared :class:`Generator`."""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from gpt4tools.inference import Generator


@functools.cache
def _worker() -> ThreadPoolExecutor:
    """The thread every streamed generation runs on (one for the process: the model's lock serialises them)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpt4tools-generate")


class GeneratorLLM:
    """Adapts :class:`gpt4tools.inference.Generator` to the agent (one instruction -> one step).

    A lock serialises generation, so one model can serve several UI sessions or API requests.
    """

    def __init__(self, generator: Generator, name: str = "model") -> None:
        self.generator = generator
        self.name = name
        self.lock = threading.Lock()
        self.seed: int | None = None  # reseeds sampling before each call when set

    def _reseed(self) -> None:
        if self.seed is not None:
            import torch

            torch.manual_seed(self.seed)

    def __call__(self, instruction: str) -> str:
        with self.lock:
            self._reseed()
            return self.generator.generate([instruction])[0]

    def stream(self, instruction: str) -> Iterator[str]:
        """Yield the step's text as it is decoded.

        Generation runs in the process's one long-lived generation thread, holding the lock, not in this iterator
        (on a CPU, generating from short-lived threads leaves later generations several times slower): a consumer that stops
        reading (a client that disconnects) cancels it on close, and at worst it ends at
        ``max_new_tokens`` and frees the model, never holding it for good.
        """
        pieces: queue.Queue = queue.Queue()
        cancel = threading.Event()

        def work() -> None:
            try:
                with self.lock:
                    self._reseed()
                    for piece in self.generator.stream(instruction, cancel=cancel):
                        pieces.put(("piece", piece))
            except BaseException as exc:  # handed to the consumer
                pieces.put(("error", exc))
            finally:
                pieces.put(("end", None))

        _worker().submit(work)
        try:
            while True:
                kind, value = pieces.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            cancel.set()

    def with_options(self, max_new_tokens: int | None = None, temperature: float | None = None,
                     stop: list[str] | None = None, seed: int | None = None) -> GeneratorLLM:
        """A view sharing the model and lock with other decoding options (temperature 0 = greedy).

        ``seed`` makes sampled generations repeatable (the torch generator is reseeded under the lock).
        """
        g = self.generator
        changes: dict = {}
        if max_new_tokens is not None:
            changes["max_new_tokens"] = max_new_tokens
        if temperature is not None:
            changes["do_sample"] = temperature > 0
            changes["temperature"] = temperature if temperature > 0 else 1.0
        if stop is not None:  # these instead of the agent's extra stops (the step's own always apply)
            changes["stop"] = list(stop)
        view = GeneratorLLM(replace(g, **changes) if changes else g, self.name)
        view.lock = self.lock
        view.seed = seed if seed is not None else self.seed
        return view
