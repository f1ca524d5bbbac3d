"""Request bodies over a size limit are answered 413 with the API's JSON error, before they are parsed.

A declared ``Content-Length`` over the limit is refused before a byte of the body is read; a body sent without
one (chunked) is counted as it arrives and refused when it passes the limit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_message(limit: int) -> str:
    return f"the request body is over this server's limit of {limit} bytes"


def error_body(status: int, message: str) -> dict:
    """The API's error answer: OpenAI clients read ``error.message``; ``detail`` keeps FastAPI's usual shape."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "code": status}, "detail": message}


class BodyLimit:
    """ASGI middleware: at most ``default`` bytes of body per request, or ``per_path[path]`` for those paths."""

    def __init__(self, app: ASGIApp, default: int, per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default = int(default)
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, too_large_message(limit))  # handled by the app's error handler
            return message

        await self.app(scope, counted, send)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(error_body(413, too_large_message(limit))).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
