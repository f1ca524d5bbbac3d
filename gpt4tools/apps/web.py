"""The Gradio web UI: upload an image, chat, see produced images inline and a collapsible tool trace."""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from gpt4tools.agent.loop import Agent
from gpt4tools.agent.records import AgentResult, StepRecord
from gpt4tools.agent.session import ChatSession

if TYPE_CHECKING:
    from gpt4tools.agent.run import AgentParts

log = logging.getLogger(__name__)


def step_message(step: StepRecord) -> dict[str, Any]:
    """A folded chatbot message for one tool step (its input and observation inside)."""
    title = f"Used {step.action}" if step.kind == "tool" else (
        f"{step.action} failed" if step.kind == "tool_error" else "Malformed step")
    body = f"Action Input: {step.action_input}\nObservation: {step.observation}" if step.action else (
        f"{step.raw.strip()}\nObservation: {step.observation}")
    return {"role": "assistant", "content": body,
            "metadata": {"title": title, "status": "done", "duration": round(step.generate_s + step.tool_s, 2)}}


def result_messages(result: AgentResult, workspace_root: Path) -> list[dict[str, Any]]:
    """Chatbot messages for one answered request: a folded message per step, the images, the answer."""
    messages: list[dict[str, Any]] = [step_message(s) for s in result.steps if s.kind != "answer"]
    for image in result.images:
        messages.append({"role": "assistant", "content": {"path": str(image)}})
    messages.append({"role": "assistant", "content": result.answer})
    return messages


def create_web_app(agent: Agent, history_turns: int = 5, title: str = "GPT4Tools") -> gr.Blocks:
    """The Blocks app for ``agent``; each browser session gets its own conversation."""

    def session_of(session: ChatSession | None) -> ChatSession:
        return session if session is not None else ChatSession(agent, history_turns)

    def on_upload(image, chat: list, session: ChatSession | None):
        if image is None:
            return chat, session
        session = session_of(session)
        try:
            rel = session.upload(image)
        except ValueError as exc:  # UploadRefused
            raise gr.Error(f"Image refused: {exc}") from None
        path = Path(agent.workspace.resolve(rel))
        chat = [*chat, {"role": "user", "content": {"path": str(path)}},
                {"role": "assistant", "content": f"Received {rel}."}]
        return chat, session

    def on_send(text: str, chat: list, session: ChatSession | None):
        """Show the request, each tool step as it finishes, then the images and the answer."""
        text = (text or "").strip()
        if not text:
            yield "", chat, session, gr.skip()
            return
        session = session_of(session)
        chat = [*chat, {"role": "user", "content": text}]
        yield "", chat, session, gr.skip()
        events: queue.Queue = queue.Queue()

        def work() -> None:
            try:
                events.put(("done", session.ask(text, on_step=lambda step: events.put(("step", step)))))
            except Exception as exc:  # shown in the UI, logged here
                log.exception("Request failed")
                events.put(("error", exc))

        threading.Thread(target=work, daemon=True, name="gpt4tools-web-request").start()
        live: list[dict[str, Any]] = []
        while True:
            kind, value = events.get()
            if kind == "error":
                raise gr.Error(f"The request failed: {value}")
            if kind == "done":
                break
            if value.kind != "answer":
                live.append(step_message(value))
                yield "", [*chat, *live], session, gr.skip()
        chat = [*chat, *result_messages(value, Path(agent.workspace.root))]
        yield "", chat, session, value.to_dict(agent.workspace)

    def on_clear(session: ChatSession | None):
        if session is not None:
            session.reset()
        return [], None, None

    with gr.Blocks(title=title) as demo:
        session = gr.State(None)
        gr.Markdown(f"## {title}\nUpload an image, then ask for something the tools can do.")
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(type="pil", label="Image", sources=["upload"], elem_id="upload-image")
                tools = ", ".join(t.spec.name for t in agent.tools.values())
                gr.Markdown(f"**Tools:** {tools}")
            with gr.Column(scale=2):
                chat = gr.Chatbot(label="Conversation", elem_id="chat", height=520)
                with gr.Row():
                    text = gr.Textbox(placeholder="e.g. detect the edges of this image", show_label=False,
                                      elem_id="message", scale=5)
                    send = gr.Button("Send", variant="primary", elem_id="send", scale=1)
                clear = gr.Button("Clear conversation", elem_id="clear")
        with gr.Accordion("Tool trace (last request)", open=False, elem_id="trace"):
            trace = gr.JSON(label="steps")
        image.upload(on_upload, [image, chat, session], [chat, session])
        send.click(on_send, [text, chat, session], [text, chat, session, trace])
        text.submit(on_send, [text, chat, session], [text, chat, session, trace])
        clear.click(on_clear, [session], [chat, trace, image])
    return demo


def launch_web(demo: gr.Blocks, agent: Agent, host: str = "127.0.0.1", port: int | None = 7860,
               share: bool = False, block: bool = True) -> str:
    """Serve ``demo`` (local only unless ``host``/``share`` say otherwise); returns its URL."""
    if share:
        log.warning("share=true: a public gradio.live link is being opened")
    _, url, _ = demo.queue().launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True,
                                    allowed_paths=[str(agent.workspace.root)], quiet=True, inbrowser=False)
    log.info("Web UI on %s", url)
    if block:
        demo.block_thread()
    return url


def launch(parts: AgentParts, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False,
           title: str = "GPT4Tools", history_turns: int = 5) -> None:
    """``app=web``: build the agent and serve its web UI until interrupted."""
    agent = parts.agent()
    launch_web(create_web_app(agent, history_turns, title), agent, host, port, share)
