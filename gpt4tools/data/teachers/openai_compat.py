"""A teacher behind any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Requests run concurrently in a thread pool through the official ``openai`` client. Timeouts, 429s,
5xx, connection errors and malformed replies (no choices, empty content) are retried with exponential
backoff and jitter by ``tenacity``, a bounded number of times (the client's own retries are off).
Every answered request is written to an on-disk cache keyed by a hash of the request (endpoint, model,
messages, sampling settings), one file per request written atomically, so an interrupted run resumes
where it stopped and a rerun costs nothing. Token usage is summed and logged; tqdm shows progress.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity import Retrying as _Retrying
from tqdm.auto import tqdm

from gpt4tools.data.teachers.base import Teacher, TeacherRequest
from gpt4tools.data.teachers.cache import ReplyCache
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


class MalformedReplyError(RuntimeError):
    """The endpoint answered 200 but without usable content."""


class TeacherError(RuntimeError):
    """A request still failed after every retry."""


def _retryable(err: BaseException) -> bool:
    import openai

    if isinstance(err, (MalformedReplyError, openai.APITimeoutError, openai.APIConnectionError,
                        openai.RateLimitError, openai.InternalServerError)):
        return True
    if isinstance(err, openai.APIStatusError):
        return err.status_code == 429 or err.status_code >= 500
    # a body that is not JSON surfaces as a decoding error from the client
    return isinstance(err, (json.JSONDecodeError, ValueError)) and not isinstance(err, TeacherError)


class OpenAITeacher(Teacher):
    """See the module docstring. ``api_key_env`` names the environment variable holding the key."""

    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 temperature: float = 0.7, max_tokens: int | None = 2048, concurrency: int = 8,
                 timeout: float = 60.0, max_attempts: int = 6, backoff_initial: float = 1.0,
                 backoff_max: float = 30.0, cache_dir: str | os.PathLike = ".teacher_cache",
                 extra_body: dict | None = None, progress: bool = True):
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.concurrency = max(1, int(concurrency))
        self.timeout = timeout
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
        return dict(self.usage)

    @property
    def client(self):
        if self._client is None:
            from openai import OpenAI

            key = os.environ.get(self.api_key_env) or ("EMPTY" if self.base_url else None)
            if key is None:
                raise TeacherError(f"set {self.api_key_env} to the API key (or teacher.base_url for a local server)")
            self._client = OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=0)
        return self._client

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

    def _count_retry(self, state: RetryCallState) -> None:
        with self._lock:
            self.usage["retries"] += 1
        err = state.outcome.exception() if state.outcome else None
        log.debug("teacher retry %d after %s", state.attempt_number, type(err).__name__)

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

    def _one(self, req: TeacherRequest) -> str:
        body = self.request_body(req)
        key = self.cache_key(body)
        cached = self.cache.get(key)
        if cached is not None:
            with self._lock:
                self.usage["cached"] += 1
            return cached
        _ = self.client  # a missing key fails here, once, with its own message
        retrying = _Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential_jitter(initial=self.backoff_initial, max=self.backoff_max),
            retry=retry_if_exception(_retryable), before_sleep=self._count_retry, reraise=True,
        )
        try:
            content, usage = retrying(self._call, body)
        except Exception as err:
            raise TeacherError(f"teacher request for image {req.image_id!r} failed after "
                               f"{self.max_attempts} attempts: {type(err).__name__}: {err}") from err
        self.cache.put(key, content, usage)
        with self._lock:
            for k, v in usage.items():
                self.usage[k] += v
        return content

    def complete(self, requests: Sequence[TeacherRequest]) -> list[str]:
        """Replies in request order; cached replies are read back, the rest fetched concurrently."""
        self.usage["requests"] += len(requests)
        out: list[str | None] = [None] * len(requests)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool, \
                tqdm(total=len(requests), desc=f"teacher {self.model}", disable=not self.progress) as bar:
            futures = {pool.submit(self._one, req): i for i, req in enumerate(requests)}
            for fut in futures:
                out[futures[fut]] = fut.result()
                bar.update(1)
        log.info("teacher usage: %s", self.usage)
        return [o or "" for o in out]
