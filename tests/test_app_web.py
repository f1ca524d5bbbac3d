"""The Gradio web UI in a real headless Chromium: upload an image, send a message, see the answer and the image."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from agent_doubles import FakeTool, FakeWorkspace, ScriptedLLM, reply, step
from PIL import Image

from gpt4tools.agent import Agent, ChatHistory
from gpt4tools.agent.build import SAMPLE_IMAGE
from gpt4tools.apps.web import create_web_app, launch_web, result_messages

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scripted_agent(root: Path, real_tools: bool = False) -> Agent:
    """A scripted model over doubles, or over the real workspace and OpenCV Canny tool."""
    llm = ScriptedLLM([step("Edge Detection On Image", "{image}"), reply("The edges are saved in {last}")])
    if real_tools:
        tools_pkg = pytest.importorskip("gpt4tools.tools")
        workspace = tools_pkg.Workspace(root)
        return Agent(llm, tools_pkg.build_tools(["Image2Canny"], workspace), workspace)
    workspace = FakeWorkspace(root)
    tools = {k: FakeTool(k, workspace) for k in ("Image2Canny", "ImageCaptioning")}
    return Agent(llm, tools, workspace)


def test_result_messages_fold_steps_and_show_images(tmp_path):
    agent = scripted_agent(tmp_path / "ws")
    agent.upload(Image.new("RGB", (64, 64), "white"), history := ChatHistory())
    result = agent.run("detect the edges", history)
    messages = result_messages(result, agent.workspace.root)
    assert messages[0]["metadata"]["title"] == "Used Edge Detection On Image"
    assert Path(messages[1]["content"]["path"]).is_file()
    assert messages[-1]["content"] == result.answer


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make browser)")
@pytest.mark.parametrize("real_tools", [False, True], ids=["doubles", "real-canny"])
def test_web_ui_in_headless_chromium(tmp_path, real_tools):
    from playwright.sync_api import expect, sync_playwright

    agent = scripted_agent(tmp_path / "ws", real_tools)
    demo = create_web_app(agent, title="GPT4Tools test")
    url = launch_web(demo, agent, "127.0.0.1", free_port(), share=False, block=False)
    assert url.startswith("http://127.0.0.1:")
    photo = SAMPLE_IMAGE
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page()
                page.set_default_timeout(30_000)
                page.goto(url)
                page.locator("#upload-image input[type=file]").set_input_files(str(photo))
                chat = page.locator("#chat")
                expect(chat).to_contain_text("Received image/")
                assert agent.llm.instructions == []  # an upload does not call the model
                page.locator("#message textarea").fill("Detect the edges of this image")
                page.locator("#send").click()
                expect(chat).to_contain_text("The edges are saved in image/")
                expect(chat).to_contain_text("Used Edge Detection On Image")
                # the uploaded and the produced image are shown inline and actually load
                images = chat.locator("img")
                expect(images).to_have_count(2)
                widths = images.evaluate_all("els => els.map(e => e.complete ? e.naturalWidth : 0)")
                assert all(w > 0 for w in widths), widths
                if shot := __import__("os").environ.get("GPT4TOOLS_WEB_SCREENSHOT"):
                    page.locator("#trace").click()
                    page.screenshot(path=shot, full_page=True)
            finally:
                browser.close()
    finally:
        demo.close()
    records = agent.turn_log.read()
    assert [r["kind"] for r in records] == ["upload", "turn"]
    assert records[1]["steps"][0]["action_input"] == records[0]["image"]
    assert records[1]["images"] and records[1]["answer"] == f"The edges are saved in {records[1]['images'][0]}"
