"""Generation through an OpenAI-compatible endpoint (zero-shot API baselines such as GPT-3.5).

Same interface as :class:`gpt4tools.inference.Generator` (``iter_generate`` / ``generate``), so the
evaluation loop, incremental writes and resume work the same. Transient API errors are retried a
bounded number of times with exponential back-off (tenacity); a request that still fails raises.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gpt4tools.stops import StopStrings

log = logging.getLogger(__name__)


@dataclass
class EndpointGenerator:
    """One assistant step per instruction from an OpenAI-compatible server.

    Attributes:
        model: the served model name.
        base_url: server URL (``None``: the OpenAI API).
        api_key_env: environment variable holding the key (a placeholder is sent when unset, as local
            servers such as vLLM accept any key).
        api: ``chat`` (chat completions, the instruction as one user message) or ``completions``.
        concurrency: requests in flight at once (one "batch").
        stop: extra stop strings; ``\\nObservation:`` always applies (:meth:`StopStrings.for_step`, sent to the
            server and cut again here).
    """

    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    api: str = "chat"
    max_new_tokens: int = 256
    temperature: float = 0.0
    stop: Sequence[str] = field(default_factory=list)
    max_retries: int = 5
    timeout: float = 60.0
    concurrency: int = 4
    retry_wait_max: float = 30.0

    def __post_init__(self) -> None:
        from openai import OpenAI

        if self.api not in ("chat", "completions"):
            raise ValueError(f"endpoint.api must be chat or completions, got {self.api!r}")
        self.stops = StopStrings.for_step(None, self.stop)
        key = os.environ.get(self.api_key_env) or "not-needed"
        self.client = OpenAI(base_url=self.base_url, api_key=key, timeout=self.timeout, max_retries=0)

    def _request(self, prompt: str) -> str:
        if self.api == "chat":
            resp = self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}], max_tokens=self.max_new_tokens,
                temperature=self.temperature, stop=list(self.stops))
            text = resp.choices[0].message.content or ""
        else:
            resp = self.client.completions.create(model=self.model, prompt=prompt, max_tokens=self.max_new_tokens,
                                                  temperature=self.temperature, stop=list(self.stops))
            text = resp.choices[0].text or ""
        return self.stops.cut(text)

    def complete(self, prompt: str) -> str:
        """One completion with bounded retries on connection, timeout, rate-limit and server errors."""
        import openai
        from tenacity import (
            Retrying,
            before_sleep_log,
            retry_if_exception_type,
            stop_after_attempt,
            wait_exponential,
        )

        retryable = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
                     openai.InternalServerError)
        for attempt in Retrying(stop=stop_after_attempt(self.max_retries), reraise=True,
                                wait=wait_exponential(multiplier=0.5, max=self.retry_wait_max),
                                retry=retry_if_exception_type(retryable),
                                before_sleep=before_sleep_log(log, logging.WARNING)):
            with attempt:
                return self._request(prompt)
        raise AssertionError("unreachable")

    def iter_generate(self, instructions: Sequence[str],
                      inputs: Sequence[str] | None = None) -> Iterator[tuple[list[int], list[str]]]:
        """Yield ``(indices, texts)`` per group of ``concurrency`` requests."""
        prompts = [f"{ins}\n{inputs[i]}" if inputs is not None and inputs[i] else ins
                   for i, ins in enumerate(instructions)]
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            for start in range(0, len(prompts), max(1, self.concurrency)):
                idx = list(range(start, min(start + self.concurrency, len(prompts))))
                yield idx, list(pool.map(self.complete, [prompts[i] for i in idx]))

    def generate(self, instructions: Sequence[str], inputs: Sequence[str] | None = None) -> list[str]:
        """One step per instruction, in order."""
        out = [""] * len(instructions)
        for idx, texts in self.iter_generate(instructions, inputs):
            for i, t in zip(idx, texts):
                out[i] = t
        return out
