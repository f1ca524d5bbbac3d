"""A bounded load test of the API on 127.0.0.1: 50 requests, 10 at a time, one of them oversize.

Every request is answered (200, or 413 for the oversize one), requests really queue for the model, and the
server keeps answering ``/health`` quickly throughout.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from api_server import running

from gpt4tools.agent import GeneratorLLM
from gpt4tools.apps.api import create_api
from gpt4tools.apps.limits import ApiLimits
from gpt4tools.inference import Generator

REQUESTS, CONCURRENCY, OVERSIZE = 50, 10, 17


@pytest.fixture(scope="module")
def server(tiny_model, smollm2_tokenizer):
    llm = GeneratorLLM(Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=12), name="tiny")
    app = create_api(llm, limits=ApiLimits(max_tokens=64, max_body_bytes=256 * 1024, queue_timeout_s=30,
                                           max_queue=CONCURRENCY, request_timeout_s=30))
    with running(app) as url:
        yield url, app.state.model_queue


def body(i: int) -> dict:
    text = "x" * 300_000 if i == OVERSIZE else f"Request {i}: describe image/{i:04d}.png"
    return {"model": "tiny", "messages": [{"role": "user", "content": text}], "max_tokens": 2 + i % 7 * 8,
            "stream": i % 3 == 0}


def send(url: str, i: int) -> tuple[int, bool]:
    """(status, whether a 200 carried a complete answer) of request ``i``."""
    with httpx.Client(timeout=60) as client:
        if body(i)["stream"]:
            with client.stream("POST", url + "/v1/chat/completions", json=body(i)) as r:
                lines = [line for line in r.iter_lines() if line]
                return r.status_code, r.status_code == 200 and lines[-1] == "data: [DONE]"
        r = client.post(url + "/v1/chat/completions", json=body(i))
        return r.status_code, r.status_code == 200 and r.json()["choices"][0]["message"]["role"] == "assistant"


@pytest.mark.timeout(120)
def test_fifty_requests_ten_at_a_time_are_all_answered(server):
    url, model_queue = server
    done = threading.Event()
    health: list[float] = []
    waiting: list[int] = []

    def probe() -> None:
        while not done.is_set():
            waiting.append(model_queue.waiting)
            t0 = time.monotonic()
            assert httpx.get(url + "/health", timeout=10).status_code == 200
            health.append(time.monotonic() - t0)
            time.sleep(0.05)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    t0 = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(lambda i: send(url, i), range(REQUESTS)))
    elapsed = time.monotonic() - t0
    done.set()
    prober.join(timeout=15)

    statuses = [status for status, _ in results]
    assert statuses == [413 if i == OVERSIZE else 200 for i in range(REQUESTS)]
    assert all(complete for i, (_, complete) in enumerate(results) if i != OVERSIZE)
    assert max(waiting) >= 2, "the requests never queued for the model"
    assert len(health) >= 3 and max(health) < 1.0, f"/health took up to {max(health):.2f} s"
    assert elapsed < 90
    assert model_queue.waiting == 0 and not model_queue._running
    t0 = time.monotonic()
    assert send(url, 1) == (200, True) and time.monotonic() - t0 < 5
