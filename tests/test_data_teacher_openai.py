"""The OpenAI-compatible teacher against a local fault-injecting server: retries, cache, resume after a kill.

``FaultyServer`` is shared with ``test_teacher_outage.py`` (an endpoint that is down, or goes down halfway).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gpt4tools.data.teachers.base import TeacherRequest
from gpt4tools.data.teachers.openai_compat import OpenAITeacher, TeacherError

REPO = Path(__file__).resolve().parents[1]


class FaultyServer:
    """A chat-completions endpoint on 127.0.0.1 that fails each new request in a scripted way first.

    Per request (keyed by its caption) the n-th attempt gets ``script[n]``: "timeout" (sleeps past the
    client timeout), "429", "500", "503", "garbage" (200 with a non-JSON body), "nochoices" (200 JSON
    without choices), "empty" (200 with empty content), then "ok". ``answered`` counts the good replies.
    After ``hang_after`` good replies the next requests hang until ``release`` is set (then they get a 503, or,
    once the server is down, a closed connection). ``go_down`` closes the listening socket (new connections are
    refused) and ``come_back`` listens again on the same port.
    """

    def __init__(self, script_for, hang_after: int | None = None):
        self.script_for = script_for
        self.attempts: Counter = Counter()
        self.answered: Counter = Counter()
        self.hang_after = hang_after
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.down = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                content = body["messages"][0]["content"]
                key = content.split('Image caption: "', 1)[1].split('"', 1)[0]
                with server.lock:
                    n = server.attempts[key]
                    server.attempts[key] += 1
                    script = server.script_for(key)
                    action = script[n] if n < len(script) else "ok"
                    if action == "ok" and server.hang_after is not None and \
                            sum(server.answered.values()) >= server.hang_after:
                        action = "hang"
                if action == "hang":
                    server.release.wait(30)
                    with server.lock:
                        server.attempts[key] -= 1
                    if server.down:  # the server died: the connection closes without a reply
                        self.close_connection = True
                        return
                    self._send(503, b'{"error": {"message": "released"}}')
                    return
                if action == "timeout":
                    time.sleep(1.5)
                    self._send(200, b"{}")
                elif action in ("429", "500", "503"):
                    self._send(int(action), json.dumps({"error": {"message": f"injected {action}"}}).encode())
                elif action == "garbage":
                    self._send(200, b"<html>not json")
                elif action == "nochoices":
                    self._send(200, json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                                "model": "m", "choices": []}).encode())
                else:
                    text = "" if action == "empty" else f'1. "Describe the scene of {key}.", [Get Photo Description, example.jpg]'
                    reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": text}}],
                             "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
                    if action == "ok":
                        with server.lock:
                            server.answered[key] += 1
                    self._send(200, json.dumps(reply).encode())

        class QuietServer(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):  # clients that timed out and hung up
                pass

        self._make = lambda port: QuietServer(("127.0.0.1", port), Handler)
        self.httpd = self._make(0)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def go_down(self) -> None:
        """Stop listening (connections are refused from now on); hanging requests get their connection closed."""
        self.down = True
        self.httpd.shutdown()
        self.httpd.server_close()
        self.release.set()

    def come_back(self) -> None:
        """Listen again on the same port, without hanging requests."""
        self.hang_after = None
        self.httpd = self._make(self.port)
        self.down = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def __exit__(self, *exc):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


SCRIPTS = [["429", "500"], ["timeout"], ["garbage", "503"], ["nochoices"], ["empty", "429"], [], ["500"], []]


def _requests(n: int) -> list[TeacherRequest]:
    return [TeacherRequest(f"img{i}", f"caption number {i}", ("ImageCaptioning",)) for i in range(n)]


def _teacher(url: str, cache: Path, **kw) -> OpenAITeacher:
    settings = {"timeout": 0.5, "backoff_initial": 0.01, "backoff_max": 0.05, "concurrency": 4, **kw}
    return OpenAITeacher(model="test-model", base_url=url, cache_dir=cache, progress=False, **settings)


def test_faults_are_retried_and_each_request_answered_once(tmp_path):
    script = {f"caption number {i}": SCRIPTS[i % len(SCRIPTS)] for i in range(16)}
    with FaultyServer(lambda k: script[k]) as server:
        teacher = _teacher(server.url, tmp_path / "cache")
        replies = teacher.complete(_requests(16))
        assert all(f"caption number {i}" in r for i, r in enumerate(replies))
        assert set(server.answered.values()) == {1} and len(server.answered) == 16
        usage = teacher.usage_summary()
        assert usage["retries"] == sum(len(s) for s in script.values())
        assert usage["prompt_tokens"] == 16 * 100 and usage["cached"] == 0
        # a rerun costs nothing: every reply comes from the cache
        again = _teacher(server.url, tmp_path / "cache")
        assert again.complete(_requests(16)) == replies
        assert again.usage_summary()["cached"] == 16 and again.usage_summary()["api_calls"] == 0
        assert set(server.answered.values()) == {1}


def test_bounded_retries_raise_a_clear_error(tmp_path):
    with FaultyServer(lambda k: ["500"] * 10) as server:
        teacher = _teacher(server.url, tmp_path / "cache", max_attempts=3)
        with pytest.raises(TeacherError, match="img0.*3 attempts"):
            teacher.complete(_requests(1))
        assert server.attempts["caption number 0"] == 3


_CHILD = """
import sys
from pathlib import Path
from gpt4tools.data.teachers.base import TeacherRequest
from gpt4tools.data.teachers.openai_compat import OpenAITeacher
t = OpenAITeacher(model="test-model", base_url=sys.argv[1], cache_dir=Path(sys.argv[2]), timeout=5, concurrency=2,
                  backoff_initial=0.01, backoff_max=0.05, progress=False)
t.complete([TeacherRequest(f"img{i}", f"caption number {i}", ("ImageCaptioning",)) for i in range(12)])
print("DONE")
"""


def test_killed_run_resumes_without_repeating_answered_requests(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with FaultyServer(lambda k: ["429"], hang_after=5) as server:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, server.url, str(cache)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while sum(server.answered.values()) < 5 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let the child write its cache files for the answered ones
        proc.kill()
        proc.wait()
        assert sum(server.answered.values()) == 5
        assert len(list(cache.rglob("*.json"))) == 5
        server.hang_after = None
        server.release.set()
        done = subprocess.run([sys.executable, "-c", _CHILD, server.url, str(cache)], env=env, capture_output=True,
                              text=True, timeout=120)
        assert "DONE" in done.stdout, done.stderr
        assert len(server.answered) == 12 and set(server.answered.values()) == {1}


def test_missing_api_key_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("GPT4TOOLS_TEST_KEY", raising=False)
    teacher = OpenAITeacher(model="m", api_key_env="GPT4TOOLS_TEST_KEY", cache_dir=tmp_path, progress=False)
    with pytest.raises(TeacherError, match="^set GPT4TOOLS_TEST_KEY"):
        teacher.complete(_requests(1))
