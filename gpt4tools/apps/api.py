"""An OpenAI-compatible server for the tuned model, plus an endpoint that runs the whole agent.

Endpoints:
    ``GET /v1/models`` - the served model.
    ``POST /v1/chat/completions`` - chat completions, streamed as server-sent events with ``stream: true``.
    ``POST /v1/agent`` - multipart ``prompt`` (+ ``image``, + ``session`` to go on with a conversation): the
    agent's answer, steps and produced images.
    ``GET /v1/files/{path}?session=...`` - an image the session uploaded or the agent produced for it.

Any OpenAI client works (``OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")``), so the
server can also stand in as the teacher endpoint of the data pipeline.

Every request is bounded (:class:`~gpt4tools.apps.limits.ApiLimits`): body and upload sizes (413), prompt
length and ``max_tokens`` (400), a time limit once it has the model (504), a first-come first-served queue
with a bounded wait (503); generation stops when the client disconnects, and SIGTERM stops the server within
``shutdown_timeout_s``. Input errors are 4xx answers ``{"error": {"message": ...}}``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal

import anyio
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from gpt4tools.agent.llm import GeneratorLLM
from gpt4tools.agent.loop import Agent, UploadRefused
from gpt4tools.apps.bodylimit import BodyLimit, error_body
from gpt4tools.apps.generation import for_request, stream_step
from gpt4tools.apps.limits import ApiLimits, ModelQueue, Stopped, model_context_length
from gpt4tools.apps.sessions import SessionStore, SessionWorkspace
from gpt4tools.apps.uploads import read_upload, shown_name

if TYPE_CHECKING:
    from gpt4tools.agent.run import AgentParts

log = logging.getLogger(__name__)

MAX_STOPS = 4
MAX_STOP_CHARS = 64


class ContentPart(BaseModel):
    """A part of a message's content: ``text`` parts are read, others (images, audio) accepted and not read."""

    model_config = ConfigDict(extra="allow")
    type: StrictStr
    text: StrictStr | None = None

    @model_validator(mode="after")
    def _text_part_has_text(self) -> ContentPart:
        if self.type == "text" and self.text is None:
            raise ValueError("a text part needs a 'text' string")
        return self


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: StrictStr | list[ContentPart] | None = None


class ChatCompletionRequest(BaseModel):
    model: StrictStr | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stream: bool = False
    stop: StrictStr | list[StrictStr] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), le=2**64 - 1)  # what torch.manual_seed takes
    n: int = 1

    @field_validator("stop")
    @classmethod
    def _few_short_stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if len(stops) > MAX_STOPS or any(len(s) > MAX_STOP_CHARS for s in stops):
            raise ValueError(f"at most {MAX_STOPS} stop strings of at most {MAX_STOP_CHARS} characters")
        return stop


def _text(content: str | list[ContentPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text or "" for part in content if part.type == "text")


def messages_to_instruction(messages: list[ChatMessage]) -> str:
    """One instruction for the model's chat template.

    System/developer messages lead as plain paragraphs. A single user message is used as it is (a full
    GPT4Tools prompt, a teacher prompt); a longer conversation becomes ``Human:``/``AI:`` lines, the
    format of the GPT4Tools history, ending with the last user message.
    """
    system = [_text(m.content) for m in messages if m.role in ("system", "developer")]
    turns = [m for m in messages if m.role not in ("system", "developer")]
    if not turns or turns[-1].role != "user":
        raise HTTPException(400, "messages must end with a user message")
    if len(turns) == 1:
        body = _text(turns[0].content)
    else:
        prefix = {"user": "Human", "assistant": "AI", "tool": "Observation"}
        body = "\n".join(f"{prefix[m.role]}: {_text(m.content)}" for m in turns)
    return "\n\n".join([*system, body]) if system else body


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def _describe(errors: list[dict[str, Any]], shown: int = 3) -> str:
    """Validation errors as one line: where and what, never the input itself."""
    parts = []
    for err in errors[:shown]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    more = f" (and {len(errors) - shown} more)" if len(errors) > shown else ""
    return "invalid request: " + "; ".join(parts) + more


def _stopped(exc: Stopped, limits: ApiLimits) -> HTTPException:
    if exc.reason == "timeout":
        return HTTPException(504, f"the request ran past the time limit of {limits.request_timeout_s:g} s")
    if exc.reason == "shutdown":
        return HTTPException(503, "the server is shutting down")
    return HTTPException(499, "the client closed the request")


class _ReleasingStream(StreamingResponse):
    """A stream that, however it ends, closes its generator (which stops generation) and then frees the model."""

    def __init__(self, content: AsyncGenerator[str, None], release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._content = content
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._content.aclose()
            self._release()


def create_api(llm: GeneratorLLM, agent: Agent | None = None, model_id: str | None = None,
               history_turns: int = 5, limits: ApiLimits | None = None) -> FastAPI:
    """The FastAPI app serving ``llm`` (and ``agent`` on ``/v1/agent`` when given) within ``limits``."""
    limits = limits or ApiLimits()
    model_id = model_id or llm.name
    created = int(time.time())
    tokenizer = llm.generator.tokenizer
    context = limits.context_length or model_context_length(llm.generator.model, tokenizer)
    if context is None:
        log.warning("The model's context length is unknown; prompts are limited by max_body_bytes only")
    model_queue = ModelQueue(limits.queue_timeout_s, limits.max_queue)
    sessions = SessionStore(limits.max_sessions, history_turns)
    app = FastAPI(title="gpt4tools", version="0.1.0")
    app.add_middleware(BodyLimit, default=limits.max_body_bytes, per_path={"/v1/agent": limits.max_upload_bytes})
    app.state.model_queue = model_queue

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, _describe(list(exc.errors())))

    @app.exception_handler(Exception)
    def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal server error (the server log has the details)")

    def count(text: str, special: bool = False) -> int:
        return len(tokenizer(text, add_special_tokens=special)["input_ids"])

    def check_prompt(prompt_tokens: int, new_tokens: int, why: str) -> None:
        """A 400 naming both numbers when the prompt leaves fewer than ``new_tokens`` of the context."""
        if context is not None and prompt_tokens + new_tokens > context:
            raise HTTPException(400, f"the prompt is {prompt_tokens} tokens; at most {context - new_tokens} fit "
                                     f"(the model's context of {context} tokens minus {why})")

    def fit(prompt_tokens: int, requested: int | None, default: int) -> int:
        """The tokens to generate: ``requested``, or ``default`` cut to what the prompt leaves of the context."""
        if requested is not None:
            check_prompt(prompt_tokens, requested, f"max_tokens={requested}")
            return requested
        check_prompt(prompt_tokens, 1, "1 token to generate")
        return default if context is None else min(default, context - prompt_tokens)

    async def admit(request: Request) -> None:
        """Wait for the model (503 past the queue's bounds); a client that left meanwhile is not served."""
        await model_queue.acquire()
        if await request.is_disconnected():
            model_queue.release()
            raise HTTPException(499, "the client closed the request")

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_id, "object": "model", "created": created,
                                            "owned_by": "gpt4tools"}]}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": model_id, "agent": "yes" if agent is not None else "no"}

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatCompletionRequest, request: Request) -> Any:
        if req.model not in (None, model_id):
            raise HTTPException(404, f"model {req.model!r} is not served here; this server serves {model_id!r}")
        if req.n != 1:
            raise HTTPException(400, "only n=1 is supported")
        instruction = messages_to_instruction(req.messages)
        requested = req.max_completion_tokens or req.max_tokens
        if requested is not None and requested > limits.max_tokens:
            raise HTTPException(400, f"max_tokens={requested} is over this server's limit of {limits.max_tokens}")
        prompt_tokens = await anyio.to_thread.run_sync(count, llm.generator.render(instruction), True)
        max_new = fit(prompt_tokens, requested, min(llm.generator.max_new_tokens, limits.max_tokens))
        stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        view = llm.with_options(max_new_tokens=max_new, temperature=req.temperature or 0.0, stop=stops,
                                seed=req.seed)
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        await admit(request)
        handed_over = False
        try:
            deadline = time.monotonic() + limits.request_timeout_s
            if req.stream:
                pieces = model_queue.run(lambda cancel: stream_step(view, instruction, cancel), deadline)
                handed_over = True  # the response frees the model once its stream has ended
                return _ReleasingStream(_sse(pieces, cid, model_id, max_new), model_queue.release,
                                        media_type="text/event-stream")
            text = ""
            async with aclosing(model_queue.run(lambda cancel: stream_step(view, instruction, cancel), deadline,
                                                request.is_disconnected)) as pieces:
                async for piece in pieces:
                    text += piece
        except Stopped as exc:
            raise _stopped(exc, limits) from None
        finally:
            if not handed_over:
                model_queue.release()
        completion_tokens = count(text)
        return {
            "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model_id,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if completion_tokens >= max_new else "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    async def _sse(pieces: AsyncIterator[str], cid: str, model: str, limit: int) -> AsyncGenerator[str, None]:
        def chunk(delta: dict[str, str], finish: str | None = None) -> str:
            body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(body)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        text = ""
        try:
            async with aclosing(pieces) as stream:
                async for piece in stream:
                    text += piece
                    yield chunk({"content": piece})
        except Stopped as exc:  # the status is sent: the client reads the error as OpenAI streams send theirs
            error = _stopped(exc, limits)
            body = {"error": {"message": error.detail, "type": "server_error", "code": error.status_code}}
            yield f"data: {json.dumps(body)}\n\n"
            yield "data: [DONE]\n\n"
            return
        yield chunk({}, "length" if count(text) >= limit else "stop")
        yield "data: [DONE]\n\n"

    @app.post("/v1/agent")
    async def run_agent(request: Request, prompt: str = Form(...), image: UploadFile | None = File(None),
                        session: str | None = Form(None)) -> dict[str, Any]:
        if agent is None:
            raise HTTPException(503, "the agent is not available on this server (no tools could be built)")
        try:
            conv = sessions.open(session)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        instruction, _ = await anyio.to_thread.run_sync(agent.build_prompt, prompt, conv.history)
        step_tokens = getattr(getattr(agent.llm, "generator", None), "max_new_tokens", llm.generator.max_new_tokens)
        prompt_tokens = await anyio.to_thread.run_sync(count, llm.generator.render(instruction), True)
        check_prompt(prompt_tokens, step_tokens, f"the {step_tokens} tokens of an agent step")
        outcome: list[tuple[str | None, Any]] = []
        await admit(request)
        try:
            upload = None
            if image is not None:
                upload = await anyio.to_thread.run_sync(_read_image, image, limits)
            deadline = time.monotonic() + limits.request_timeout_s

            def produce(cancel):
                worker = copy.copy(agent)  # shares tools, locks and the turn log; sees only this session's images
                worker.workspace = SessionWorkspace(agent.workspace, conv.id)
                worker.llm = for_request(agent.llm, cancel)
                uploaded = worker.upload(upload, conv.history, session=conv.id) if upload is not None else None
                yield uploaded, worker.run(prompt, conv.history, session=conv.id)

            async with aclosing(model_queue.run(produce, deadline, request.is_disconnected)) as results:
                outcome = [item async for item in results]
        except Stopped as exc:
            raise _stopped(exc, limits) from None
        except UploadRefused as exc:
            raise HTTPException(400, f"image {shown_name(image.filename)} refused: {exc}") from None
        finally:
            model_queue.release()
        uploaded, result = outcome[0]
        body = result.to_dict(agent.workspace)
        conv.images.update(p for p in [uploaded, *body["images"]] if p)
        body["uploaded_image"] = uploaded
        body["session"] = conv.id
        body["image_urls"] = [f"/v1/files/{p}?session={conv.id}" for p in body["images"]]
        return body

    @app.get("/v1/files/{path:path}")
    def get_file(path: str, session: str = "") -> FileResponse:
        if agent is None or not sessions.allows(session, path):
            raise HTTPException(404, "no such image for this session: images are served to the session that "
                                     "uploaded them or for which the agent produced them")
        resolved = agent.workspace.resolve(path)
        if not resolved.is_file():
            raise HTTPException(404, "the image is no longer in the workspace")
        return FileResponse(resolved)

    return app


def _read_image(image: UploadFile, limits: ApiLimits) -> Any:
    """The decoded upload; its type, bytes and pixels checked first (413 over a limit, 400 otherwise)."""
    from gpt4tools.tools.errors import ImageFileError, ImageTooLarge

    try:
        return read_upload(image.file, image.filename, limits.max_upload_bytes, limits.max_image_pixels)
    except ImageTooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    except ImageFileError as exc:
        raise HTTPException(400, str(exc)) from None


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, shutdown_timeout_s: float = 3.0) -> None:
    """Run ``app`` with uvicorn until SIGINT/SIGTERM; running generations stop then, and the server is gone within
    ``shutdown_timeout_s`` (requests still running are cancelled)."""
    import uvicorn

    model_queue: ModelQueue | None = getattr(app.state, "model_queue", None)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if model_queue is not None:
                model_queue.shutdown()
            super().handle_exit(sig, frame)

    log.info("OpenAI-compatible API on http://%s:%d/v1", host, port)
    config = uvicorn.Config(app, host=host, port=port, log_level="info",
                            timeout_graceful_shutdown=max(1, math.ceil(shutdown_timeout_s)))
    _Server(config).run()


def launch(parts: AgentParts, host: str = "127.0.0.1", port: int = 8000, history_turns: int = 5,
           max_tokens: int = 1024, context_length: int | None = None, max_body_bytes: int = 1024 * 1024,
           max_upload_bytes: int = 10 * 1024 * 1024, max_image_pixels: int = 25_000_000,
           request_timeout_s: float = 120.0, queue_timeout_s: float = 30.0, max_queue: int = 16,
           max_sessions: int = 256, shutdown_timeout_s: float = 3.0) -> None:
    """``app=api``: serve the model, and the agent on ``/v1/agent`` when its tools can be built.

    The limits are :class:`~gpt4tools.apps.limits.ApiLimits`'s (``conf/app/api.yaml``).
    """
    limits = ApiLimits(max_tokens=max_tokens, context_length=context_length, max_body_bytes=max_body_bytes,
                       max_upload_bytes=max_upload_bytes, max_image_pixels=max_image_pixels,
                       request_timeout_s=request_timeout_s, queue_timeout_s=queue_timeout_s, max_queue=max_queue,
                       max_sessions=max_sessions, shutdown_timeout_s=shutdown_timeout_s)
    llm = parts.llm()
    agent = None
    try:
        agent = parts.agent(llm)
    except (ImportError, RuntimeError) as exc:
        log.warning("Serving the model only; /v1/agent is off: %s", exc)
    serve(create_api(llm, agent, history_turns=history_turns, limits=limits), host, port, limits.shutdown_timeout_s)
