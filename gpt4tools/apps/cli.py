"""Terminal front end: one request about one image, or an interactive chat."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from gpt4tools.agent.build import SAMPLE_IMAGE
from gpt4tools.agent.records import AgentResult
from gpt4tools.agent.session import ChatSession

if TYPE_CHECKING:
    from gpt4tools.agent.run import AgentParts

log = logging.getLogger(__name__)

HELP = "Commands: /image PATH (upload an image), /reset (forget the conversation), /quit. Anything else is a request."


def open_image(path: str | Path) -> Image.Image:
    """Open an image file, failing with a message that names it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        image = Image.open(path)
        image.load()
    except OSError as exc:
        raise ValueError(f"image {path} cannot be read: {exc}") from None
    return image


def show_result(console: Console, result: AgentResult, workspace_root: Path) -> None:
    """Print the tool trace as a table, then the answer and the produced images."""
    if any(s.kind != "answer" for s in result.steps):
        table = Table(title="Tool trace", show_lines=True)
        for col in ("#", "kind", "action", "action input", "observation"):
            table.add_column(col, overflow="fold")
        for s in result.steps:
            if s.kind != "answer":
                table.add_row(str(s.index), s.kind, s.action or "-", s.action_input or "-", s.observation or "-")
        console.print(table)
    console.print(Panel(result.answer, title=f"AI ({result.stop_reason}, {result.seconds:.1f} s)"))
    for image in result.images:
        console.print(f"produced image: {Path(image).relative_to(workspace_root).as_posix()}", soft_wrap=True)


def one_shot(session: ChatSession, image: str | Path, prompt: str, console: Console | None = None) -> AgentResult:
    """Upload ``image``, run ``prompt``, print the outcome."""
    console = console or Console()
    rel = session.upload(open_image(image))
    console.print(f"[bold]Image[/bold] {image} -> {rel}")
    console.print(f"[bold]Human[/bold] {prompt}")
    result = session.ask(prompt)
    show_result(console, result, Path(session.agent.workspace.root))
    return result


def chat(session: ChatSession, image: str | Path | None = None, console: Console | None = None,
         read: Callable[[str], str] = input) -> None:
    """Read requests from the terminal until /quit or end of input."""
    console = console or Console()
    console.print(HELP)
    if image is not None:
        console.print(f"Image {image} -> {session.upload(open_image(image))}")
    while True:
        try:
            line = read("Human> ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/reset":
            session.reset()
            console.print("Conversation cleared.")
        elif line.startswith("/image"):
            try:
                console.print(f"Image -> {session.upload(open_image(line[len('/image'):].strip()))}")
            except (OSError, ValueError) as exc:
                console.print(f"[red]{exc}[/red]")
        elif line.startswith("/"):
            console.print(HELP)
        else:
            show_result(console, session.ask(line), Path(session.agent.workspace.root))


def launch(parts: AgentParts, image: str | Path | None = None, prompt: str = "", interactive: bool = False,
           history_turns: int = 5) -> AgentResult | None:
    """``app=cli``: one request about ``image`` (the bundled sample when None); ``app=chat``: a terminal chat.

    Returns the one-shot result (None after a chat).
    """
    if not interactive and not prompt:
        raise ValueError('prompt is empty: pass prompt="..." or use app=chat')
    session = ChatSession(parts.agent(), history_turns)
    if image is None:
        log.info("No image given: using the bundled sample %s", SAMPLE_IMAGE.name)
        image = SAMPLE_IMAGE
    if interactive:
        chat(session, image)
        return None
    return one_shot(session, image, prompt)
