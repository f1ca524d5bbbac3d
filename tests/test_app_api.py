"""The OpenAI-compatible server through the ``openai`` client, against uvicorn on 127.0.0.1 (random port)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import openai
import pytest
from agent_doubles import FakeTool, FakeWorkspace, ScriptedLLM, reply, step
from PIL import Image

from gpt4tools.agent import Agent, GeneratorLLM
from gpt4tools.apps.api import create_api
from gpt4tools.inference import Generator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model, smollm2_tokenizer, tmp_path_factory):
    """uvicorn serving the tiny model (chat) and a scripted agent (/v1/agent); stopped at the end."""
    import uvicorn

    llm = GeneratorLLM(Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=12), name="tiny")
    workspace = FakeWorkspace(tmp_path_factory.mktemp("api-ws"))
    tools = {k: FakeTool(k, workspace) for k in ("Image2Canny", "ImageCaptioning")}
    agent = Agent(ScriptedLLM([]), tools, workspace)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_api(llm, agent), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "llm": llm, "agent": agent}
    srv.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server["url"] + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == ["tiny"]


def test_chat_completion_matches_the_shared_generator(client, server):
    prompt = "Segment the dog in image/abc.png"
    out = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": prompt}],
                                         max_tokens=8, temperature=0)
    expected = server["llm"].with_options(max_new_tokens=8)(prompt)
    assert out.choices[0].message.content == expected
    assert out.choices[0].finish_reason in ("stop", "length")
    assert out.usage.prompt_tokens > 5 and out.usage.completion_tokens <= 8


def test_streaming_sends_the_same_text_in_pieces(client, server):
    prompt = "Describe image/abc.png"
    stream = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": prompt}],
                                            max_tokens=10, temperature=0, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == server["llm"].with_options(max_new_tokens=10)(prompt)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert sum(1 for c in chunks if c.choices[0].delta.content) >= 2


def test_unknown_model_is_a_clear_404(client):
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])


def test_agent_endpoint_runs_the_whole_agent_on_an_upload(server, tmp_path):
    agent = server["agent"]
    agent.llm.outputs = [step("Edge Detection On Image", "{image}"), reply("Edges are in the image.")]
    image = tmp_path / "photo.png"
    Image.new("RGB", (300, 200), "blue").save(image)
    with image.open("rb") as f:
        r = httpx.post(server["url"] + "/v1/agent", data={"prompt": "detect the edges"},
                       files={"image": ("photo.png", f, "image/png")}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["uploaded_image"] == f"image/{body['session']}/upload_0000.png"  # the session's own folder
    assert body["answer"] == "Edges are in the image."
    assert [s["kind"] for s in body["steps"]] == ["tool", "answer"]
    produced = httpx.get(server["url"] + body["image_urls"][0], timeout=30)
    assert produced.status_code == 200 and produced.content[:4] == b"\x89PNG"


def test_agent_endpoint_rejects_a_file_that_is_not_an_image(server):
    r = httpx.post(server["url"] + "/v1/agent", data={"prompt": "hi"},
                   files={"image": ("notes.txt", b"hello", "text/plain")}, timeout=30)
    assert r.status_code == 400 and "notes.txt" in r.json()["detail"]


def test_files_endpoint_refuses_escapes(server):
    r = httpx.get(server["url"] + "/v1/files/..%2F..%2Fetc%2Fpasswd", timeout=30)
    assert r.status_code in (403, 404)
    assert "root:" not in r.text


def test_a_stream_closed_early_does_not_block_the_next_request(server):
    body = {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 12, "stream": True}
    with httpx.stream("POST", server["url"] + "/v1/chat/completions", json=body, timeout=60) as r:
        first = next(r.iter_lines())
        assert first.startswith("data: ")
    r = httpx.post(server["url"] + "/v1/chat/completions", timeout=60,
                   json={"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["role"] == "assistant"


def test_sampling_with_a_seed_repeats(client):
    def ask() -> str:
        out = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Say anything"}],
                                             max_tokens=8, temperature=0.9, seed=7)
        return out.choices[0].message.content

    assert ask() == ask()


def test_app_api_serves_the_model_alone_when_the_agent_cannot_be_built(server, monkeypatch, caplog):
    """``app=api``: tools that cannot be built turn /v1/agent off; the model is still served."""
    from fastapi.testclient import TestClient

    from gpt4tools.apps import api

    served = {}
    monkeypatch.setattr(api, "serve", lambda app, host, port, shutdown_timeout_s: served.update(
        app=app, host=host, port=port, shutdown_timeout_s=shutdown_timeout_s))

    class Parts:
        def llm(self):
            return server["llm"]

        def agent(self, llm):
            raise RuntimeError("no tool is available")

    api.launch(Parts(), host="127.0.0.1", port=8123, shutdown_timeout_s=2.0)
    assert (served["host"], served["port"], served["shutdown_timeout_s"]) == ("127.0.0.1", 8123, 2.0)
    assert TestClient(served["app"]).get("/health").json() == {"status": "ok", "model": "tiny", "agent": "no"}
    assert "/v1/agent is off: no tool is available" in caplog.text
