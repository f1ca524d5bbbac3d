"""A circuit breaker for a remote teacher: after N consecutive connection failures the endpoint is deemed down.

Requests run concurrently, so the count is shared by all of them: a connection failure (refused, reset, DNS,
a connect timeout) adds one, any answer from the server (a reply, an HTTP error status, a read timeout after
the connection was made) sets it back to zero. When the count reaches the threshold the breaker opens, and
every request in flight stops retrying; the caller raises :class:`EndpointUnreachableError` once.
"""

from __future__ import annotations

import threading

from gpt4tools.utils.errors import Gpt4ToolsError


class TeacherError(Gpt4ToolsError, RuntimeError):
    """A teacher request still failed after every retry."""


class EndpointUnreachableError(TeacherError):
    """The teacher's endpoint could not be reached: the circuit breaker opened."""


_CONNECT_TIMEOUTS = ("ConnectTimeout", "PoolTimeout")


def is_connection_failure(err: BaseException) -> bool:
    """True when ``err`` means the endpoint was not reached (no HTTP answer came back).

    The ``openai`` client raises ``APIConnectionError`` for refused, reset and unresolvable connections and
    its subclass ``APITimeoutError`` for every timeout; a timeout counts only when it happened while
    connecting (its cause is the transport's ``ConnectTimeout``), not while waiting for a slow reply.
    """
    import openai

    if isinstance(err, openai.APITimeoutError):
        return type(err.__cause__).__name__ in _CONNECT_TIMEOUTS
    return isinstance(err, openai.APIConnectionError)


def describe_error(err: BaseException | None) -> str:
    """A short reason for a failed attempt: the HTTP status or the exception, with its cause."""
    if err is None:
        return "no error"
    status = getattr(err, "status_code", None)
    text = f"HTTP {status} {type(err).__name__}" if status is not None else type(err).__name__
    message = str(err).strip()
    if message:
        text += f": {message[:200]}"
    cause = err.__cause__
    if cause is not None and str(cause).strip():
        text += f" ({type(cause).__name__}: {str(cause).strip()[:200]})"
    elif cause is not None:
        text += f" ({type(cause).__name__})"
    return text


class CircuitBreaker:
    """Counts consecutive connection failures across threads; opens at ``threshold`` (0 or less: never)."""

    def __init__(self, threshold: int):
        self.threshold = int(threshold)
        self.failures = 0
        self.last_error: BaseException | None = None
        self.opened = threading.Event()
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Whether the endpoint has been deemed unreachable."""
        return self.opened.is_set()

    def record(self, err: BaseException | None) -> bool:
        """Record one attempt's outcome (``None``: the server answered); return whether the breaker is open."""
        with self._lock:
            if err is not None and is_connection_failure(err):
                self.failures += 1
                self.last_error = err
                if self.threshold > 0 and self.failures >= self.threshold:
                    self.opened.set()
            elif not self.opened.is_set():
                self.failures = 0
            return self.opened.is_set()
