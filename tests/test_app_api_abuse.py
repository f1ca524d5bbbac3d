"""The API under abusive requests: each is answered with a 4xx/413/503/504 JSON error, and none holds the model.

The server runs the tiny model (about 2.5 ms a token on a CPU, so 1900 tokens take seconds) and a scripted agent,
with limits small enough to reach in a test.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from agent_doubles import FakeTool, FakeWorkspace, ScriptedLLM, reply, step
from api_server import free_port, running
from PIL import Image

from gpt4tools.agent import Agent, GeneratorLLM
from gpt4tools.apps.api import create_api
from gpt4tools.apps.limits import ApiLimits
from gpt4tools.inference import Generator

ROOT = Path(__file__).resolve().parents[1]
LONG = 1900  # tokens: seconds of generation for the tiny model, within its 2048 positions
LIMITS = ApiLimits(max_tokens=LONG, max_body_bytes=512 * 1024, max_upload_bytes=1024 * 1024,
                   max_image_pixels=4_000_000, request_timeout_s=30, queue_timeout_s=2.0, max_queue=4)


def ask(text: str = "Hi", max_tokens: int = 4, **extra) -> dict:
    return {"model": "tiny", "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens, **extra}


def assert_clear_error(r: httpx.Response, status: int) -> str:
    """The answer is ``status`` with a JSON message free of Python reprs and local paths; returns the message."""
    assert r.status_code == status, r.text
    message = r.json()["error"]["message"]
    assert isinstance(message, str) and message
    for leak in ("object at 0x", "<_io", "<class", "Traceback", "/tmp/", str(ROOT)):
        assert leak not in message, message
    return message


def png(width: int, height: int) -> bytes:
    """A valid black 1-bit PNG of ``width`` x ``height``: a few KB that decode to width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def api(tiny_model, smollm2_tokenizer, tmp_path_factory):
    llm = GeneratorLLM(Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=12), name="tiny")
    workspace = FakeWorkspace(tmp_path_factory.mktemp("abuse-ws"))
    tools = {k: FakeTool(k, workspace) for k in ("Image2Canny", "ImageCaptioning")}
    agent = Agent(ScriptedLLM([reply("ok")]), tools, workspace)
    app = create_api(llm, agent, limits=LIMITS)
    with running(app) as url:
        yield {"url": url, "app": app, "agent": agent, "tools": tools, "llm": llm, "workspace": workspace}


def chat(api, body, timeout: float | httpx.Timeout = 30) -> httpx.Response:
    return httpx.post(api["url"] + "/v1/chat/completions", json=body, timeout=timeout)


def script(api, *outputs: str) -> None:
    """What the scripted agent model writes from its next call on."""
    api["agent"].llm.outputs = list(outputs)
    api["agent"].llm.instructions = []


def agent_turn(api, prompt: str, session: str | None = None, image: bytes | None = None,
               name: str = "photo.png") -> httpx.Response:
    data = {"prompt": prompt, **({"session": session} if session else {})}
    files = {"image": (name, image, "image/png")} if image is not None else None
    return httpx.post(api["url"] + "/v1/agent", data=data, files=files, timeout=30)


def photo() -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (96, 64), "green").save(buf, "PNG")
    return buf.getvalue()


# ------------------------------------------------------------------ sizes: max_tokens, prompt, body
def test_max_tokens_over_the_limit_is_a_400(api):
    message = assert_clear_error(chat(api, ask(max_tokens=100_000)), 400)
    assert "100000" in message and str(LONG) in message


def test_a_prompt_past_the_context_is_a_400_naming_both_numbers(api):
    """200 KB of text: 40,000 tokens for a model of 2,048 positions."""
    message = assert_clear_error(chat(api, ask("word " * 40_000, max_tokens=16)), 400)
    found = re.search(r"the prompt is (\d+) tokens; at most (\d+) fit", message)
    assert found, message
    assert int(found[1]) > 40_000 and int(found[2]) == 2048 - 16


def test_a_prompt_that_leaves_no_room_is_a_400_without_max_tokens(api):
    message = assert_clear_error(chat(api, ask("word " * 3000, max_tokens=None)), 400)
    assert "at most 2047 fit" in message


def test_a_body_over_the_limit_is_a_413_at_once(api):
    t0 = time.monotonic()
    message = assert_clear_error(chat(api, ask("x" * 5_000_000)), 413)
    assert str(512 * 1024) in message and time.monotonic() - t0 < 3


def test_a_chunked_body_over_the_limit_is_a_413(api):
    def body():
        for _ in range(100):
            yield b" " * 10_000  # 1 MB, sent without a Content-Length

    r = httpx.post(api["url"] + "/v1/chat/completions", content=body(), timeout=30,
                   headers={"content-type": "application/json"})
    assert_clear_error(r, 413)


# ------------------------------------------------------------------ input errors are 400s with a message
@pytest.mark.parametrize("body, says", [
    (ask() | {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "string"),
    (ask() | {"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "text"),
    (ask(seed=1e23), "seed"),
    (ask(seed=1.5), "seed"),
    (ask(stop=["a"] * 10), "stop"),
    (ask(temperature=9), "temperature"),
    (ask(max_tokens=0), "max_tokens"),
    (ask() | {"messages": "hi"}, "messages"),
    (ask() | {"messages": [{"role": "assistant", "content": "hi"}]}, "user message"),
    (ask(n=2), "n=1"),
])
def test_invalid_input_is_a_400_with_a_message(api, body, says):
    assert says in assert_clear_error(chat(api, body), 400)


def test_json_that_does_not_parse_is_a_400(api):
    r = httpx.post(api["url"] + "/v1/chat/completions", content=b'{"messages": [', timeout=30,
                   headers={"content-type": "application/json"})
    assert "JSON" in assert_clear_error(r, 400)


def test_an_unknown_route_is_a_json_404(api):
    assert_clear_error(httpx.get(api["url"] + "/v1/nothing", timeout=30), 404)


# ------------------------------------------------------------------ uploads
def test_a_text_file_uploaded_as_an_image_is_a_400_without_reprs(api):
    message = assert_clear_error(agent_turn(api, "hi", image=b"hello, not an image", name="notes.txt"), 400)
    assert "notes.txt" in message and "not an image" in message


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # PIL's own, on reading the header
def test_an_image_over_the_pixel_limit_is_a_413_before_decoding(api):
    """12000 x 12000 pixels in a few KB: refused from its header, no decoded copy in memory."""
    data = png(12_000, 12_000)
    assert len(data) < 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = assert_clear_error(agent_turn(api, "hi", image=data, name="huge.png"), 413)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert "12000x12000" in message and "huge.png" in message
    assert grown_mb < 100, f"peak memory grew by {grown_mb:.0f} MB"  # decoded RGB would be 432 MB


def test_a_decompression_bomb_is_a_413(api):
    message = assert_clear_error(agent_turn(api, "hi", image=png(20_000, 20_000), name="bomb.png"), 413)
    assert "decompression bomb" in message


def test_an_upload_over_the_byte_limit_is_a_413(api):
    message = assert_clear_error(agent_turn(api, "hi", image=os.urandom(1_200_000)), 413)
    assert str(1024 * 1024) in message


def test_an_agent_prompt_past_the_context_is_a_400(api):
    message = assert_clear_error(agent_turn(api, "word " * 5000), 400)
    assert re.search(r"the prompt is \d+ tokens; at most \d+ fit", message)


# ------------------------------------------------------------------ files and sessions
def test_files_serves_a_session_its_own_images_and_never_the_turn_log(api):
    workspace = api["workspace"]
    script(api, step("Edge Detection On Image", "{image}"), reply("Done."))
    first = agent_turn(api, "detect the edges", image=photo())
    assert first.status_code == 200, first.text
    body = first.json()
    assert (workspace.root / "turns.jsonl").is_file()
    own = httpx.get(api["url"] + body["image_urls"][0], timeout=30)
    assert own.status_code == 200 and own.content[:4] == b"\x89PNG"
    upload = body["uploaded_image"]
    other = agent_turn(api, "hello").json()["session"]
    for path, session in [(upload, other), (upload, ""), ("turns.jsonl", body["session"]),
                          ("turns.jsonl", ""), ("../turns.jsonl", body["session"])]:
        r = httpx.get(f"{api['url']}/v1/files/{path}", params={"session": session} if session else None, timeout=30)
        assert_clear_error(r, 404)
        assert b'"kind"' not in r.content
    assert httpx.get(f"{api['url']}/v1/files/{upload}", params={"session": body["session"]},
                     timeout=30).status_code == 200


def test_a_session_cannot_reach_another_sessions_images(api):
    agent, canny = api["agent"], api["tools"]["Image2Canny"]
    script(api, reply("Received."))
    owner = agent_turn(api, "keep this", image=photo()).json()
    calls = len(canny.calls)
    script(api, step("Edge Detection On Image", owner["uploaded_image"]), reply("Done."))
    r = agent_turn(api, "detect the edges", session="intruder-1")
    assert r.status_code == 200, r.text
    steps = r.json()["steps"]
    assert steps[0]["kind"] == "tool_error" and "another conversation" in steps[0]["observation"]
    assert len(canny.calls) == calls  # the tool never saw the path
    script(api, reply("Yes."))
    again = agent_turn(api, "do you remember?", session="intruder-1").json()
    assert again["session"] == "intruder-1" and "Human: detect the edges" in agent.llm.instructions[-1]


def test_a_session_view_of_the_real_workspace(tmp_path):
    """Uploads land in ``image/<session>/``; another session's folder is refused, shared images are not."""
    from gpt4tools.apps.sessions import OtherSessionPath, SessionWorkspace
    from gpt4tools.tools import PathOutsideWorkspace, Workspace

    base = Workspace(tmp_path / "ws")
    mine, theirs = SessionWorkspace(base, "mine-123"), SessionWorkspace(base, "theirs-456")
    saved = mine.save_upload(Image.new("RGB", (300, 200)))
    rel = mine.relative(saved)
    assert rel.startswith("image/mine-123/") and saved.is_file() and Image.open(saved).size == (512, 320)
    assert mine.resolve(rel) == saved and mine.max_pixels == base.max_pixels
    with pytest.raises(OtherSessionPath):
        theirs.resolve(rel)
    with pytest.raises(OtherSessionPath):
        theirs.resolve(str(saved))
    with pytest.raises(PathOutsideWorkspace):
        mine.resolve("../outside.png")
    assert theirs.resolve("image/shared.png") == base.root / "image" / "shared.png"


def test_a_malformed_session_id_is_a_400(api):
    assert "session" in assert_clear_error(agent_turn(api, "hi", session="../../etc"), 400)


# ------------------------------------------------------------------ the model is freed and shared fairly
def test_an_aborted_long_request_frees_the_model_at_once(api):
    """The client gives up after 0.7 s of a generation with seconds left; the next request is answered at once."""
    with pytest.raises(httpx.ReadTimeout):
        chat(api, ask(max_tokens=LONG), timeout=httpx.Timeout(30, read=0.7))
    t0 = time.monotonic()
    r = chat(api, ask())
    assert r.status_code == 200, r.text  # a generation left running would keep it waiting into a 503
    assert time.monotonic() - t0 < LIMITS.queue_timeout_s


def test_a_stream_closed_by_the_client_frees_the_model_at_once(api):
    with httpx.stream("POST", api["url"] + "/v1/chat/completions", json=ask(max_tokens=LONG, stream=True),
                      timeout=30) as r:
        events = (line for line in r.iter_lines() if line)
        assert all(next(events).startswith("data: ") for _ in range(6))
    t0 = time.monotonic()
    assert chat(api, ask()).status_code == 200
    assert time.monotonic() - t0 < LIMITS.queue_timeout_s


def test_waiting_requests_queue_in_order_and_time_out_with_a_503(api):
    """While a long stream holds the model: a full queue is refused at once; a waiter past queue_timeout_s gets a
    503; and those waiting when the model frees up are served first come, first served."""
    url = api["url"] + "/v1/chat/completions"
    with httpx.stream("POST", url, json=ask(max_tokens=LONG, stream=True), timeout=30) as r:
        lines = r.iter_lines()  # kept: a discarded iterator closes the connection
        assert next(lines).startswith("data: ")
        t0 = time.monotonic()
        late = chat(api, ask())
        waited = time.monotonic() - t0
        message = assert_clear_error(late, 503)
        assert "busy" in message and late.headers["retry-after"] == "1"
        assert LIMITS.queue_timeout_s - 0.1 < waited < LIMITS.queue_timeout_s + 1.5

        done: list[int] = []

        def queued(i: int) -> int:
            status = chat(api, ask(max_tokens=2)).status_code
            done.append(i)
            return status

        pool = ThreadPoolExecutor(LIMITS.max_queue)
        futures = []
        for i in range(LIMITS.max_queue):
            futures.append(pool.submit(queued, i))
            time.sleep(0.15)
        t0 = time.monotonic()
        full = chat(api, ask())
        assert "busy" in assert_clear_error(full, 503) and time.monotonic() - t0 < 1.0
    assert [f.result(timeout=30) for f in futures] == [200] * LIMITS.max_queue
    pool.shutdown()
    assert done == list(range(LIMITS.max_queue))


def test_the_time_limit_stops_a_generation_with_a_504(tiny_model, smollm2_tokenizer, tmp_path):
    llm = GeneratorLLM(Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=12), name="tiny")
    app = create_api(llm, limits=ApiLimits(max_tokens=LONG, request_timeout_s=0.5))
    with running(app) as url:
        t0 = time.monotonic()
        r = httpx.post(url + "/v1/chat/completions", json=ask(max_tokens=LONG), timeout=30)
        assert "time limit of 0.5 s" in assert_clear_error(r, 504) and time.monotonic() - t0 < 3
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=30)
        stream = client.chat.completions.create(**ask(max_tokens=LONG), stream=True)
        with pytest.raises(openai.APIError, match="time limit"):
            for _ in stream:
                pass
        assert time.monotonic() - t0 < 5
        assert httpx.post(url + "/v1/chat/completions", json=ask(), timeout=30).status_code == 200


# ------------------------------------------------------------------ SIGTERM
@pytest.mark.timeout(120)
def test_sigterm_stops_the_server_during_a_generation(tmp_path):
    """``python infer.py app=api model=tiny``: SIGTERM while a long generation streams ends the process in seconds.

    The grace period is set longer than the generation, so only stopping the generation makes it quick."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "infer.py", "app=api", "model=tiny", "adapter=null", f"app.port={port}",
         f"hydra.run.dir={tmp_path}", f"app.max_tokens={LONG}", "app.shutdown_timeout_s=30"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        streamed = threading.Event()

        def long_request() -> None:
            body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": LONG, "stream": True}
            try:
                with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as r:
                    for _ in r.iter_lines():
                        streamed.set()
            except httpx.TransportError:
                pass

        reader = threading.Thread(target=long_request, daemon=True)
        reader.start()
        assert streamed.wait(30), "the generation did not start"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert time.monotonic() - t0 < 3, "the server took too long to stop"  # the generation had seconds left
        reader.join(timeout=5)
        assert not reader.is_alive()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_settings_are_validated():
    with pytest.raises(ValueError, match="max_tokens"):
        ApiLimits(max_tokens=0)
    with pytest.raises(ValueError, match="queue_timeout_s"):
        ApiLimits(queue_timeout_s=0)
    with pytest.raises(ValueError, match="context_length"):
        ApiLimits(context_length=1)
