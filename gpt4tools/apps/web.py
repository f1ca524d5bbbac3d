"""The Gradio web UI: upload an image, chat, see produced images inline and a collapsible tool trace."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from gpt4tools.agent.loop import Agent, AgentResult, ChatSession

log = logging.getLogger(__name__)


def result_messages(result: AgentResult, workspace_root: Path) -> list[dict[str, Any]]:
    """Chatbot messages for one answered request: a folded message per step, the images, the answer."""
    messages: list[dict[str, Any]] = []
    for step in result.steps:
        if step.kind == "answer":
            continue
        title = f"Used {step.action}" if step.kind == "tool" else (
            f"{step.action} failed" if step.kind == "tool_error" else "Malformed step")
        body = f"Action Input: {step.action_input}\nObservation: {step.observation}" if step.action else (
            f"{step.raw.strip()}\nObservation: {step.observation}")
        messages.append({"role": "assistant", "content": body,
                         "metadata": {"title": title, "status": "done", "duration": round(step.tool_s, 2)}})
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
        text = (text or "").strip()
        if not text:
            return "", chat, session, gr.skip()
        session = session_of(session)
        result = session.ask(text)
        chat = [*chat, {"role": "user", "content": text}, *result_messages(result, Path(agent.workspace.root))]
        return "", chat, session, result.to_dict(agent.workspace)

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
