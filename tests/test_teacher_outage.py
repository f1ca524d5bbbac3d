"""The OpenAI-compatible teacher when its endpoint is down: one named error within seconds, retries logged,
answers received before an outage kept, and a rerun after it resumes from the cache."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from test_data_teacher_openai import FaultyServer, _requests, _teacher

from gpt4tools.data import generate_dataset
from gpt4tools.data.teachers.openai_compat import EndpointUnreachableError, OpenAITeacher, TeacherError
from gpt4tools.utils.config import compose

LOGGER = "gpt4tools.data.teachers.openai_compat"


def _dead_url() -> str:
    """An endpoint on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _pipeline_cfg(tmp_path, url: str, *overrides: str):
    return compose("generate_data", [f"paths.data_dir={tmp_path}", f"paths.cache_dir={tmp_path / 'cache'}",
                                     "data=small", "teacher=openai", f"teacher.base_url={url}",
                                     "teacher.progress=false", *overrides])


def test_pipeline_with_the_endpoint_down_raises_one_named_error_fast(tmp_path):
    """With the shipped settings (only base_url set) a refused endpoint ends the run in seconds, not after
    every one of the 112 queued requests has spent its retries (about half an hour before)."""
    url = _dead_url()
    cfg = _pipeline_cfg(tmp_path, url)
    assert cfg.teacher.breaker_threshold == 10 and cfg.teacher.connect_timeout == 10.0
    t0 = time.perf_counter()
    with pytest.raises(EndpointUnreachableError, match=f"{url}.* is unreachable: 10 consecutive connection "
                                                       r"failures.*Connection refused.*teacher\.base_url"):
        generate_dataset(cfg)
    assert time.perf_counter() - t0 < 15


def test_quick_settings_fail_within_a_second(tmp_path):
    url = _dead_url()
    cfg = _pipeline_cfg(tmp_path, url, "teacher.breaker_threshold=3", "teacher.backoff_initial=0.05",
                        "teacher.backoff_max=0.2", "teacher.connect_timeout=1")
    t0 = time.perf_counter()
    with pytest.raises(EndpointUnreachableError, match="3 consecutive connection failures"):
        generate_dataset(cfg)
    assert time.perf_counter() - t0 < 5


def test_without_breaker_a_request_that_never_connects_still_ends_the_run(tmp_path):
    teacher = _teacher(_dead_url(), tmp_path / "cache", concurrency=1, max_attempts=3, breaker_threshold=0)
    t0 = time.perf_counter()
    with pytest.raises(EndpointUnreachableError, match="breaker_threshold=0"):
        teacher.complete(_requests(50))
    # the first request's two retries (the next one may have started before the stop): the rest never ran
    assert time.perf_counter() - t0 < 5 and teacher.usage_summary()["retries"] in (2, 3)


def test_transient_failures_are_retried_logged_and_the_run_completes(tmp_path, caplog):
    """429 and 5xx, then the endpoint refusing connections for a moment (below the breaker's threshold)."""
    script = {f"caption number {i}": ["503", "429"] for i in range(3)}
    caplog.set_level(logging.INFO, logger=LOGGER)
    with FaultyServer(lambda k: script.get(k, [])) as server:
        teacher = _teacher(server.url, tmp_path / "cache")
        replies = teacher.complete(_requests(6))
        assert all(f"caption number {i}" in r for i, r in enumerate(replies))
        retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
        assert len(retries) == 6 and all(r.levelno == logging.INFO for r in caplog.records if r.name == LOGGER)
        assert sum("attempt 1/6 failed (HTTP 503 InternalServerError" in m for m in retries) == 3
        assert sum("attempt 2/6 failed (HTTP 429 RateLimitError" in m for m in retries) == 3

        caplog.clear()
        server.go_down()
        threading.Timer(0.3, server.come_back).start()
        teacher = _teacher(server.url, tmp_path / "cache", breaker_threshold=200, max_attempts=40)
        replies = teacher.complete(_requests(10))  # 0-5 from the cache, 6-9 once the server is back
        assert all(f"caption number {i}" in r for i, r in enumerate(replies))
        refused = [r.getMessage() for r in caplog.records if "Connection refused" in r.getMessage()]
        assert refused and all("retrying in" in m for m in refused)
        assert set(server.answered.values()) == {1} and len(server.answered) == 10


def test_pipeline_completes_through_retries(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    with FaultyServer(lambda k: ["500"] if len(k) % 3 == 0 else []) as server:
        cfg = _pipeline_cfg(tmp_path, server.url, "data.fraction=0.05", "teacher.backoff_initial=0.01",
                            "teacher.backoff_max=0.05")
        data = generate_dataset(cfg)
    logged = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert data.usage["retries"] == len(logged) > 0 and data.usage["api_calls"] == data.usage["requests"]
    assert all("attempt 1/6 failed (HTTP 500 InternalServerError" in m for m in logged)
    assert sum(len(s) for s in data.samples.values()) > 0


def test_server_dying_halfway_keeps_the_answers_and_a_rerun_resumes(tmp_path):
    cache = tmp_path / "cache"
    with FaultyServer(lambda k: [], hang_after=5) as server:
        def kill_when_half_done() -> None:
            deadline = time.time() + 20
            while sum(server.answered.values()) < 5 and time.time() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)  # the fifth reply reaches the client
            server.go_down()

        threading.Thread(target=kill_when_half_done, daemon=True).start()
        teacher = _teacher(server.url, cache, concurrency=2, breaker_threshold=3)
        t0 = time.perf_counter()
        with pytest.raises(EndpointUnreachableError, match=f"{server.url} is unreachable"):
            teacher.complete(_requests(12))
        assert time.perf_counter() - t0 < 10
        assert sum(server.answered.values()) == 5 and len(list(cache.rglob("*.json"))) == 5

        server.come_back()
        again = _teacher(server.url, cache, concurrency=2, breaker_threshold=3)
        replies = again.complete(_requests(12))
        assert all(f"caption number {i}" in r for i, r in enumerate(replies))
        assert again.usage_summary()["cached"] == 5
        assert len(server.answered) == 12 and set(server.answered.values()) == {1}


def test_a_request_failing_for_good_stops_the_others(tmp_path):
    """Not an outage: one request keeps getting 500s; the run ends when it has spent its attempts."""
    with FaultyServer(lambda k: ["500"] * 10 if k == "caption number 0" else ["timeout"] * 10) as server:
        teacher = _teacher(server.url, tmp_path / "cache", max_attempts=3, concurrency=2)
        t0 = time.perf_counter()
        with pytest.raises(TeacherError, match="img0.*3 attempts: HTTP 500") as info:
            teacher.complete(_requests(40))
        assert time.perf_counter() - t0 < 2 and not isinstance(info.value, EndpointUnreachableError)
        assert sum(server.attempts.values()) <= 5  # img0's three, img1's first ones; the 38 queued never sent


def test_default_teacher_settings_are_documented():
    teacher = OpenAITeacher(model="m", base_url="http://127.0.0.1:1/v1", progress=False)
    assert (teacher.breaker_threshold, teacher.connect_timeout, teacher.max_attempts) == (10, 10.0, 6)
