"""Serve a FastAPI app with uvicorn on 127.0.0.1 (a free port) in a thread, for the API tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app, start_timeout_s: float = 20.0) -> Iterator[str]:
    """The base URL of ``app`` served on 127.0.0.1; the server is stopped (at most 2 s of grace) on exit."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True, name="test-uvicorn")
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        queue = getattr(app.state, "model_queue", None)
        if queue is not None:
            queue.shutdown()
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "server did not stop"
