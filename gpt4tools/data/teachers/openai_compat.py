"""A teacher behind any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Requests run concurrently in a thread pool through the official ``openai`` client. Timeouts, 429s,
5xx, connection errors and malformed replies (no choices, empty content) are retried with exponential
backoff and jitter by ``tenacity``, a bounded number of times (the client's own retries are off); each
retry is logged at INFO with its attempt number and reason. An unreachable endpoint ends the run early: a
circuit breaker (``breaker.py``) opens after ``breaker_threshold`` consecutive connection failures across all
requests, and the first request that fails for good stops the others, so the run raises one
``EndpointUnreachableError`` (the endpoint, the last error, what to do) within seconds of the outage rather
than after every queued request has spent its retries.
Every answered request is written to an on-disk cache keyed by a hash of the request (endpoint, model,
messages, sampling settings), one file per request written atomically, so an interrupted run resumes
where it stopped and a rerun costs nothing. Token usage is summed and logged; tqdm shows progress.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential_jitter,
)
from tenacity import Retrying as _Retrying
from tqdm.auto import tqdm

from gpt4tools.data.teachers.base import Teacher, TeacherRequest
from gpt4tools.data.teachers.breaker import (
    CircuitBreaker,
    EndpointUnreachableError,
    TeacherError,
    describe_error,
    is_connection_failure,
)
from gpt4tools.data.teachers.cache import ReplyCache
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


class MalformedReplyError(RuntimeError):
    """The endpoint answered 200 but without usable content."""


class _Stopped(RuntimeError):
    """The run was stopped (breaker open or another request failed for good): no further attempts."""


__all__ = ["EndpointUnreachableError", "MalformedReplyError", "OpenAITeacher", "TeacherError"]


@dataclass
class _Run:
    """The state one ``complete`` call shares among its requests (threads of an ended run keep their own)."""

    breaker: CircuitBreaker
    stop: threading.Event = field(default_factory=threading.Event)


def _retryable(err: BaseException) -> bool:
    import openai

    if isinstance(err, _Stopped):
        return False
    if isinstance(err, (MalformedReplyError, openai.APITimeoutError, openai.APIConnectionError,
                        openai.RateLimitError, openai.InternalServerError)):
        return True
    if isinstance(err, openai.APIStatusError):
        return err.status_code == 429 or err.status_code >= 500
    # a body that is not JSON surfaces as a decoding error from the client
    return isinstance(err, (json.JSONDecodeError, ValueError)) and not isinstance(err, TeacherError)


class OpenAITeacher(Teacher):
    """See the module docstring. ``api_key_env`` names the environment variable holding the key.

    ``timeout`` bounds each request (seconds), ``connect_timeout`` the connection alone (None: ``timeout``);
    ``breaker_threshold`` is the number of consecutive connection failures that ends the run (0: never, then
    only ``max_attempts`` per request bounds an outage).
    """

    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 temperature: float = 0.7, max_tokens: int | None = 2048, concurrency: int = 8,
                 timeout: float = 60.0, max_attempts: int = 6, backoff_initial: float = 1.0,
                 backoff_max: float = 30.0, cache_dir: str | os.PathLike = ".teacher_cache",
                 extra_body: dict | None = None, progress: bool = True, connect_timeout: float | None = 10.0,
                 breaker_threshold: int = 10):
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.concurrency = max(1, int(concurrency))
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.breaker_threshold = int(breaker_threshold)
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.cache = ReplyCache(cache_dir)
        self.extra_body = dict(extra_body or {})
        self.progress = progress
        self._lock = threading.Lock()
        self._client = None
        self.reset_usage()

    def reset_usage(self) -> None:
        """Zero the usage counters."""
        self.usage = {"requests": 0, "cached": 0, "api_calls": 0, "retries": 0, "prompt_tokens": 0,
                      "completion_tokens": 0, "total_tokens": 0}

    def usage_summary(self) -> dict:
        """Request, cache, call, retry and token counts since the last ``reset_usage``."""
        return dict(self.usage)

    @property
    def client(self):
        """The ``openai`` client (built on first use; raises ``TeacherError`` when the key is missing)."""
        if self._client is None:
            from openai import OpenAI, Timeout

            key = os.environ.get(self.api_key_env) or ("EMPTY" if self.base_url else None)
            if key is None:
                raise TeacherError(f"set {self.api_key_env} to the API key (or teacher.base_url for a local server)")
            connect = self.timeout if self.connect_timeout is None else min(self.connect_timeout, self.timeout)
            self._client = OpenAI(api_key=key, base_url=self.base_url, max_retries=0,
                                  timeout=Timeout(self.timeout, connect=connect))
        return self._client

    @property
    def endpoint(self) -> str:
        """The URL requests go to (``base_url``, or the client's default)."""
        return str(self.client.base_url).rstrip("/")

    def request_body(self, req: TeacherRequest) -> dict:
        """The chat-completions body of one request (also the cache key's content)."""
        body = {"model": self.model, "messages": req.messages(), "temperature": self.temperature}
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        if req.sample:
            body["seed"] = req.sample
        body.update(self.extra_body)
        return body

    def cache_key(self, body: dict) -> dict:
        """What identifies a request in the cache: the endpoint and the whole body."""
        return {"base_url": self.base_url, **body}

    def _retry_logger(self, image_id: str) -> Callable[[RetryCallState], None]:
        """The ``before_sleep`` hook of one request: count the retry and log it at INFO with its reason."""

        def before_sleep(state: RetryCallState) -> None:
            with self._lock:
                self.usage["retries"] += 1
            err = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.info("teacher request for image %r: attempt %d/%d failed (%s); retrying in %.2fs", image_id,
                     state.attempt_number, self.max_attempts, describe_error(err), wait)

        return before_sleep

    def _unreachable_error(self, breaker: CircuitBreaker, err: BaseException) -> EndpointUnreachableError:
        """The one error an unreachable endpoint ends the run with: what, where, how to fix."""
        where = self.endpoint if self.base_url else f"{self.endpoint} (the client's default; teacher.base_url unset)"
        last = breaker.last_error or err
        return EndpointUnreachableError(
            f"teacher endpoint {where} is unreachable: {max(breaker.failures, 1)} consecutive connection "
            f"failures, the last {describe_error(last)}. Start the server or point teacher.base_url at it, and check "
            f"the network or proxy. Replies received so far are kept in {self.cache.folder}; a rerun resumes from "
            f"them. teacher.breaker_threshold={breaker.threshold} sets how many consecutive connection failures "
            f"end the run (0: only teacher.max_attempts per request).")

    def _attempt(self, body: dict, run: _Run) -> tuple[str, dict]:
        """One try of a request; feeds the circuit breaker and stops the run when it opens."""
        if run.stop.is_set():
            raise _Stopped("teacher run stopped")
        try:
            result = self._call(body)
        except Exception as err:
            if run.breaker.record(err):
                run.stop.set()
            raise
        run.breaker.record(None)
        return result

    def _call(self, body: dict) -> tuple[str, dict]:
        extra = {k: v for k, v in body.items() if k not in ("model", "messages", "temperature", "max_tokens", "seed")}
        kwargs = {k: body[k] for k in ("model", "messages", "temperature", "max_tokens", "seed") if k in body}
        resp = self.client.chat.completions.create(**kwargs, extra_body=extra or None)
        with self._lock:
            self.usage["api_calls"] += 1
        choices = getattr(resp, "choices", None)
        if not choices:
            raise MalformedReplyError("reply has no choices")
        content = getattr(choices[0].message, "content", None)
        if not isinstance(content, str) or not content.strip():
            raise MalformedReplyError("reply has no text content")
        usage = getattr(resp, "usage", None)
        usage_d = {k: int(getattr(usage, k, 0) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        return content, usage_d

    def _one(self, req: TeacherRequest, run: _Run) -> str:
        body = self.request_body(req)
        key = self.cache_key(body)
        cached = self.cache.get(key)
        if cached is not None:
            with self._lock:
                self.usage["cached"] += 1
            return cached
        _ = self.client  # a missing key fails here, once, with its own message
        retrying = _Retrying(
            stop=stop_after_attempt(self.max_attempts) | stop_when_event_set(run.stop),
            wait=wait_exponential_jitter(initial=self.backoff_initial, max=self.backoff_max),
            sleep=run.stop.wait,  # a stopped run does not sit out its backoff
            retry=retry_if_exception(_retryable), before_sleep=self._retry_logger(req.image_id), reraise=True,
        )
        try:
            content, usage = retrying(self._attempt, body, run)
        except Exception as err:
            if run.breaker.is_open or is_connection_failure(err):
                raise self._unreachable_error(run.breaker, err) from err
            if isinstance(err, _Stopped):
                raise
            raise TeacherError(f"teacher request for image {req.image_id!r} failed after "
                               f"{self.max_attempts} attempts: {describe_error(err)}") from err
        self.cache.put(key, content, usage)
        with self._lock:
            for k, v in usage.items():
                self.usage[k] += v
        return content

    def complete(self, requests: Sequence[TeacherRequest]) -> list[str]:
        """Replies in request order; cached replies are read back, the rest fetched concurrently.

        Raises:
            EndpointUnreachableError: the endpoint could not be reached (circuit breaker open, or a request's
                every attempt failed to connect); queued requests are dropped, received replies stay cached.
            TeacherError: a request still failed after ``max_attempts`` (the other requests are stopped).
        """
        self.usage["requests"] += len(requests)
        run = _Run(CircuitBreaker(self.breaker_threshold))
        out: list[str | None] = [None] * len(requests)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="teacher")
        bar = tqdm(total=len(requests), desc=f"teacher {self.model}", disable=not self.progress)
        interrupted = False
        try:
            futures = {pool.submit(self._one, req, run): i for i, req in enumerate(requests)}
            for fut in as_completed(futures):
                out[futures[fut]] = fut.result()  # the first request that fails for good ends the run
                bar.update(1)
        except BaseException as err:
            run.stop.set()  # requests in flight end with their current attempt, queued ones never start
            interrupted = not isinstance(err, Exception)
            raise
        finally:
            # wait for the attempts in flight (their replies are cached), unless interrupted
            pool.shutdown(wait=not interrupted, cancel_futures=True)
            bar.close()
            log.info("teacher usage: %s", self.usage)
        return [o or "" for o in out]
