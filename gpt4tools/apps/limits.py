"""What one API request may cost, and the queue in front of the model.

:class:`ApiLimits` holds the settings (``conf/app/api.yaml``). :class:`ModelQueue` lets one request at a time
use the model, first come first served, with a bounded queue and a bounded wait (HTTP 503 past either), and
runs each generation in a thread that stops at the next token when its deadline passes, when the client
disconnects, or when the server shuts down.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from fastapi import HTTPException

log = logging.getLogger(__name__)

T = TypeVar("T")

POLL_S = 0.05
"""How often a running generation looks at its deadline and its client."""


@dataclass(frozen=True)
class ApiLimits:
    """Bounds on the work one request may cause.

    Args:
        max_tokens: the most tokens a request may ask for (``max_tokens``/``max_completion_tokens``; more is a 400).
        context_length: the model's positions (None: read from the model's config). A prompt may use the context
            minus the tokens it asks for; a longer one is a 400.
        max_body_bytes: the largest JSON request body (more is a 413).
        max_upload_bytes: the largest ``/v1/agent`` request body, image included (more is a 413).
        max_image_pixels: the largest uploaded image, width x height, checked from its header before it is
            decoded (more is a 413).
        request_timeout_s: how long a request may use the model once it has it; generation stops there (504, or
            an error event on a stream).
        queue_timeout_s: how long a request may wait for the model before it is answered 503.
        max_queue: how many requests may wait for the model; one more is answered 503 at once.
        max_sessions: conversations of ``/v1/agent`` kept (history and the images each may fetch); the least
            recently used is forgotten first.
        shutdown_timeout_s: on SIGTERM, how long running requests get to end before they are cancelled.
    """

    max_tokens: int = 1024
    context_length: int | None = None
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 25_000_000
    request_timeout_s: float = 120.0
    queue_timeout_s: float = 30.0
    max_queue: int = 16
    max_sessions: int = 256
    shutdown_timeout_s: float = 3.0

    def __post_init__(self) -> None:
        for name in ("max_tokens", "max_body_bytes", "max_upload_bytes", "max_image_pixels", "max_sessions"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("request_timeout_s", "queue_timeout_s", "shutdown_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.max_queue < 0:
            raise ValueError(f"max_queue must be 0 or more, not {self.max_queue}")
        if self.context_length is not None and self.context_length < 2:
            raise ValueError(f"context_length must be at least 2, not {self.context_length}")


def model_context_length(model: Any, tokenizer: Any = None) -> int | None:
    """The number of positions ``model`` was built for (its config), else the tokenizer's limit; None if unknown."""
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        config = config.get_text_config()
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10_000_000 else None


class Stopped(Exception):
    """A generation ended before it finished: ``reason`` is ``timeout``, ``disconnect`` or ``shutdown``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Cancel:
    """One request's stop signal, shared by every generation the request runs.

    :meth:`gpt4tools.inference.Generator.stream` sets the event it is given when it ends, so each generation
    takes its own from :meth:`event`; setting the request's signal sets all of them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._events: list[threading.Event] = []

    def set(self) -> None:
        """Stop every generation of the request at its next token."""
        with self._lock:
            self._set = True
            events = list(self._events)
        for event in events:
            event.set()

    def is_set(self) -> bool:
        return self._set

    def event(self) -> threading.Event:
        """A fresh event for one generation, set now if the request is already stopped."""
        event = threading.Event()
        with self._lock:
            self._events = [e for e in self._events if not e.is_set()]
            self._events.append(event)
            if self._set:
                event.set()
        return event


class ModelQueue:
    """First come, first served use of the model by one request at a time.

    ``max_queue`` requests may wait, each at most ``queue_timeout_s``; past either a request gets a 503.
    After :meth:`shutdown` every running generation stops at its next token and new requests get a 503.
    The model's work runs on one long-lived thread: torch on a CPU slows down several times over when each
    generation is started from a new thread (its OpenMP workers are set up per calling thread).
    """

    def __init__(self, queue_timeout_s: float = 30.0, max_queue: int = 16) -> None:
        self.queue_timeout_s = float(queue_timeout_s)
        self.max_queue = int(max_queue)
        self.waiting = 0
        self.closing = False
        self._slot = anyio.Semaphore(1)  # anyio's semaphore hands the slot to its waiters in arrival order
        self._running: set[Cancel] = set()
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()

    async def acquire(self) -> None:
        """Wait for the model in arrival order.

        Raises:
            HTTPException: 503 when the queue is full, the wait runs past ``queue_timeout_s`` or the server stops.
        """
        self._refuse_when_closing()
        if self.waiting >= self.max_queue and self._slot.value == 0:
            raise HTTPException(503, f"the server is busy: {self.waiting} requests are waiting for the model, "
                                     f"the most it queues; retry later", headers={"Retry-After": "1"})
        self.waiting += 1
        try:
            with anyio.fail_after(self.queue_timeout_s):
                await self._slot.acquire()
        except TimeoutError:
            raise HTTPException(503, f"the model stayed busy for {self.queue_timeout_s:g} s, the longest a request "
                                     f"waits; retry later", headers={"Retry-After": "1"}) from None
        finally:
            self.waiting -= 1
        if self.closing:
            self.release()
            self._refuse_when_closing()

    def release(self) -> None:
        """Hand the model to the next waiting request."""
        self._slot.release()

    def _refuse_when_closing(self) -> None:
        if self.closing:
            raise HTTPException(503, "the server is shutting down")

    def shutdown(self) -> None:
        """Stop every running generation at its next token and refuse new requests."""
        self.closing = True
        for cancel in list(self._running):
            cancel.set()
        log.info("Stopping %d running request(s)", len(self._running))

    def _submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the model's thread, after the jobs before it."""
        with self._worker_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, daemon=True, name="gpt4tools-api-model")
                self._worker.start()
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            self._jobs.get()()  # a job hands its own errors to its reader

    async def run(self, produce: Callable[[Cancel], Iterable[T]], deadline: float,
                  disconnected: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[T]:
        """The items of ``produce(cancel)``, computed on the model's thread, as they come.

        ``cancel`` is set when ``deadline`` (``time.monotonic()``) passes, when ``disconnected()`` turns true or
        on :meth:`shutdown`; ``produce`` should then end soon (generation stops at its next token) and
        :class:`Stopped` is raised here. Closing the iterator sets ``cancel`` too and returns once ``produce``
        has ended, so the model is free when it returns. Errors of ``produce`` are raised here.
        """
        cancel = Cancel()
        items: queue.SimpleQueue = queue.SimpleQueue()
        ended = threading.Event()

        def work() -> None:
            try:
                for item in produce(cancel):
                    items.put((True, item))
                items.put((False, None))
            except BaseException as exc:  # handed to the reader
                items.put((False, exc))
            finally:
                ended.set()

        self._running.add(cancel)
        if self.closing:
            cancel.set()
        self._submit(work)
        reason: str | None = None
        asked = time.monotonic()
        try:
            while True:
                if reason is None:
                    now = time.monotonic()
                    if self.closing:
                        reason = "shutdown"
                    elif now >= deadline:
                        reason = "timeout"
                    elif disconnected is not None and now - asked >= POLL_S:  # every POLL_S, not at every token
                        asked = now
                        if await disconnected():
                            reason = "disconnect"
                    if reason is not None:
                        log.info("Stopping a generation: %s", reason)
                        cancel.set()
                try:
                    more, value = await anyio.to_thread.run_sync(items.get, True, POLL_S)
                except queue.Empty:
                    continue
                if not more:
                    if reason is not None:
                        raise Stopped(reason)
                    if value is not None:
                        raise value
                    return
                if reason is None:
                    yield value
        finally:
            cancel.set()
            self._running.discard(cancel)
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(ended.wait)
