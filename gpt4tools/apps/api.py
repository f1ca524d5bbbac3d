"""An OpenAI-compatible server for the tuned model, plus an endpoint that runs the whole agent.

Endpoints:
    ``GET /v1/models`` - the served model.
    ``POST /v1/chat/completions`` - chat completions, streamed as server-sent events with ``stream: true``.
    ``POST /v1/agent`` - multipart ``prompt`` (+ ``image``): the agent's answer, steps and produced images.
    ``GET /v1/files/{path}`` - an image from the workspace.

Any OpenAI client works (``OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")``), so the
server can also stand in as the teacher endpoint of the data pipeline.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from gpt4tools.agent.history import ChatHistory
from gpt4tools.agent.llm import GeneratorLLM
from gpt4tools.agent.loop import Agent
from gpt4tools.agent.session import new_session_id

if TYPE_CHECKING:
    from gpt4tools.agent.run import AgentParts

log = logging.getLogger(__name__)


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = 1


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


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


def create_api(llm: GeneratorLLM, agent: Agent | None = None, model_id: str | None = None,
               history_turns: int = 5) -> FastAPI:
    """The FastAPI app serving ``llm`` (and ``agent`` on ``/v1/agent`` when given)."""
    model_id = model_id or llm.name
    created = int(time.time())
    app = FastAPI(title="gpt4tools", version="0.1.0")

    @app.exception_handler(HTTPException)
    def openai_error(request: Request, exc: HTTPException) -> JSONResponse:
        # OpenAI clients read {"error": {"message": ...}}; "detail" keeps FastAPI's usual shape too.
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return JSONResponse({"error": {"message": exc.detail, "type": kind, "code": exc.status_code},
                             "detail": exc.detail}, status_code=exc.status_code)
    tokenizer = llm.generator.tokenizer

    def count(text: str, special: bool = False) -> int:
        return len(tokenizer(text, add_special_tokens=special)["input_ids"])

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_id, "object": "model", "created": created,
                                            "owned_by": "gpt4tools"}]}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": model_id, "agent": "yes" if agent is not None else "no"}

    @app.post("/v1/chat/completions")
    def chat_completions(req: ChatCompletionRequest):
        if req.model not in (None, model_id):
            raise HTTPException(404, f"model {req.model!r} is not served here; this server serves {model_id!r}")
        if req.n != 1:
            raise HTTPException(400, "only n=1 is supported")
        instruction = messages_to_instruction(req.messages)
        stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        max_new = req.max_completion_tokens or req.max_tokens
        view = llm.with_options(max_new_tokens=max_new, temperature=req.temperature or 0.0, stop=stops,
                                seed=req.seed)
        limit = view.generator.max_new_tokens
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        prompt_tokens = count(view.generator.render(instruction), special=True)
        if req.stream:
            return StreamingResponse(_sse(view, instruction, cid, model_id, limit), media_type="text/event-stream")
        text = view(instruction)
        completion_tokens = count(text)
        return {
            "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model_id,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if completion_tokens >= limit else "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    def _sse(view: GeneratorLLM, instruction: str, cid: str, model: str, limit: int) -> Iterator[str]:
        def chunk(delta: dict[str, str], finish: str | None = None) -> str:
            body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(body)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        text = ""
        for piece in view.stream(instruction):
            text += piece
            yield chunk({"content": piece})
        yield chunk({}, "length" if count(text) >= limit else "stop")
        yield "data: [DONE]\n\n"

    @app.post("/v1/agent")
    def run_agent(prompt: str = Form(...), image: UploadFile | None = File(None)) -> dict[str, Any]:
        if agent is None:
            raise HTTPException(503, "the agent is not available on this server (no tools could be built)")
        history = ChatHistory(max_turns=history_turns)
        session = new_session_id()
        uploaded = None
        if image is not None:
            from PIL import Image, UnidentifiedImageError

            data = image.file.read()
            try:
                pil = Image.open(io.BytesIO(data))
                pil.load()
            except (UnidentifiedImageError, OSError) as exc:
                raise HTTPException(400, f"image {image.filename!r} is not a readable image: {exc}") from None
            try:
                uploaded = agent.upload(pil, history, session=session)
            except ValueError as exc:
                raise HTTPException(400, f"image {image.filename!r} refused: {exc}") from None
        result = agent.run(prompt, history, session=session)
        body = result.to_dict(agent.workspace)
        body["uploaded_image"] = uploaded
        body["session"] = session
        body["image_urls"] = [f"/v1/files/{p}" for p in body["images"]]
        return body

    @app.get("/v1/files/{path:path}")
    def get_file(path: str) -> FileResponse:
        if agent is None:
            raise HTTPException(404, "no workspace on this server")
        try:
            resolved = agent.workspace.resolve(path)
        except Exception as exc:
            raise HTTPException(403, f"refused: {exc}") from None
        if not resolved.is_file():
            raise HTTPException(404, f"no file {path!r} in the workspace")
        return FileResponse(resolved)

    return app


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run ``app`` with uvicorn until interrupted."""
    import uvicorn

    log.info("OpenAI-compatible API on http://%s:%d/v1", host, port)
    uvicorn.run(app, host=host, port=port, log_level="info")


def launch(parts: AgentParts, host: str = "127.0.0.1", port: int = 8000, history_turns: int = 5) -> None:
    """``app=api``: serve the model, and the agent on ``/v1/agent`` when its tools can be built."""
    llm = parts.llm()
    agent = None
    try:
        agent = parts.agent(llm)
    except (ImportError, RuntimeError) as exc:
        log.warning("Serving the model only; /v1/agent is off: %s", exc)
    serve(create_api(llm, agent, history_turns=history_turns), host, port)
