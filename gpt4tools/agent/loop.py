"""The agent's ReAct loop: prompt -> one step -> tool -> observation -> ... -> answer.

Our own small loop over :mod:`gpt4tools.prompt` (no agent framework): the prompt shows a few tools
chosen for the request, the model writes one step (generation stops at ``\\nObservation:``), the
step is parsed and checked against the catalog schema, the tool runs on workspace paths only, and
its observation is appended as the original's context samples do. Malformed steps get an error
observation and a bounded retry; tool failures become observations; steps and time are budgeted.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpt4tools.agent.history import ChatHistory
from gpt4tools.agent.protocols import StepLLM, Tool, Workspace
from gpt4tools.agent.records import AgentResult, StepRecord
from gpt4tools.agent.selection import ToolRanker
from gpt4tools.agent.turnlog import TurnLog
from gpt4tools.catalog import (
    ArgKind,
    ArgumentError,
    OutputKind,
    ToolSpec,
    format_action_input,
    parse_action_input,
)
from gpt4tools.prompt import continue_after_observation, render_prompt, tool_step
from gpt4tools.react import ReActStep, parse_step
from gpt4tools.stops import StopStrings

log = logging.getLogger(__name__)

_IMAGE_PATH_RE = re.compile(r"[\w./\\-]+\.(?:png|jpe?g|webp|bmp)", re.IGNORECASE)
_HUMAN_TURN = StopStrings(["\nHuman:"])  # an answer ends where a model would start writing the human's next turn


@dataclass
class AgentSettings:
    """Budgets and prompt knobs of the loop.

    Attributes:
        max_steps: tool calls allowed per request.
        max_retries: malformed steps (no Action Input, unknown tool, wrong arguments) tolerated per request.
        time_budget_s: wall time per request; checked before every model call.
        max_tools_shown: tools listed in the prompt (training showed 2 to 5).
    """

    max_steps: int = 5
    max_retries: int = 2
    time_budget_s: float = 300.0
    max_tools_shown: int = 5


def _is_loaded(tool: Tool) -> bool:
    flag = getattr(tool, "is_loaded", False)
    return bool(flag() if callable(flag) else flag)


def _is_tool_error(exc: BaseException) -> bool:
    try:
        from gpt4tools.tools import ToolError
    except ImportError:  # the tools package is optional for the loop itself
        return False
    return isinstance(exc, ToolError)


class UploadRefused(ValueError):
    """An uploaded image the workspace would not take (unreadable, too large, ...)."""


class _Invalid(Exception):
    """A step the loop cannot act on; its message becomes the observation."""


class Agent:
    """Runs requests against a language model and a set of tools inside one workspace.

    Args:
        llm: writes one step for an instruction (see :class:`~gpt4tools.agent.protocols.StepLLM`).
        tools: runnable tools, by catalog key; loaded lazily on first use.
        workspace: where images are read and written; paths outside it are refused.
        settings: budgets and the number of tools shown.
        turn_log: where every turn is logged (default ``<workspace>/turns.jsonl``).
        default_caption: the description of an upload when no captioning tool is available.
    """

    def __init__(self, llm: StepLLM, tools: Mapping[str, Tool], workspace: Workspace,
                 settings: AgentSettings | None = None, turn_log: TurnLog | None = None,
                 default_caption: str = "No description is available.") -> None:
        self.llm = llm
        self.tools = dict(tools)
        self.workspace = workspace
        self.settings = settings or AgentSettings()
        self.turn_log = turn_log or TurnLog(Path(workspace.root) / "turns.jsonl")
        self.default_caption = default_caption
        self._by_name = {t.spec.name.lower(): t for t in self.tools.values()}
        self.ranker = ToolRanker([t.spec for t in self.tools.values()])
        self._tool_lock = threading.Lock()  # tools share pooled models: one call at a time across sessions

    # ------------------------------------------------------------------ prompt
    def shown_tools(self, request: str) -> list[ToolSpec]:
        """The tools the prompt lists for ``request``."""
        return self.ranker.select(request, self.settings.max_tools_shown)

    def build_prompt(self, request: str, history: ChatHistory | None = None) -> tuple[str, list[ToolSpec]]:
        """The first-step instruction for ``request`` and the tools it shows."""
        shown = self.shown_tools(request)
        return render_prompt(shown, request, history.render() if history is not None else ""), shown

    # ------------------------------------------------------------------ upload
    def caption(self, image_path: str) -> str:
        """A description of a workspace image by the captioning tool, or the default caption."""
        tool = self.tools.get("ImageCaptioning")
        if tool is None:
            return self.default_caption
        ok, why = tool.weights_available()
        if not ok:
            log.info("Captioning tool unavailable (%s); using the default caption", why)
            return self.default_caption
        try:
            if not _is_loaded(tool):
                tool.load()
            return tool(image_path).strip() or self.default_caption
        except Exception as exc:  # a failing caption must not lose the upload
            log.warning("Captioning %s failed: %s", image_path, exc)
            return self.default_caption

    def upload(self, image: Any, history: ChatHistory, session: str = "") -> str:
        """Save an uploaded PIL image in the workspace, caption it, add the upload turn; returns its path.

        Raises:
            UploadRefused: the workspace refused the image (the message says why).
        """
        try:
            path = self.workspace.save_upload(image)
        except (ValueError, OSError) as exc:
            raise UploadRefused(str(exc)) from exc
        except Exception as exc:
            if _is_tool_error(exc):  # the workspace's own image errors
                raise UploadRefused(str(exc)) from exc
            raise
        rel = self.workspace.relative(path)
        caption = self.caption(rel)
        history.add_upload(rel, caption)
        self.turn_log.write({"session": session, "kind": "upload", "image": rel, "caption": caption})
        log.info("Uploaded %s: %s", rel, caption)
        return rel

    # ------------------------------------------------------------------ steps
    def _find_tool(self, action: str) -> Tool:
        name = action.strip().strip("`'\"[]").strip().lower()
        tool = self._by_name.get(name)
        if tool is None:
            names = ", ".join(t.spec.name for t in self.tools.values())
            raise _Invalid(f"Error: unknown tool {action.strip()!r}. Use one of [{names}].")
        return tool

    def _check_args(self, spec: ToolSpec, action_input: str) -> list[str]:
        try:
            args = parse_action_input(spec, action_input)
        except ArgumentError as exc:
            raise _Invalid(f"Error: invalid Action Input: {exc}") from None
        return args

    def _check_paths(self, spec: ToolSpec, args: list[str]) -> None:
        """Refuse image arguments outside the workspace or not there (raises ValueError with the observation)."""
        for kind, arg in zip(spec.args, args):
            if kind is not ArgKind.IMAGE:
                continue
            try:
                path = self.workspace.resolve(arg)
            except Exception as exc:
                log.warning("Refused path %r for %s: %s", arg, spec.name, exc)
                raise ValueError(f"Error: refused image path {arg!r}: {exc}") from None
            if not Path(path).is_file():
                raise ValueError(f"Error: there is no image named {arg!r}. Use a file name from the conversation.")

    def _produced_images(self, observation: str) -> list[Path]:
        found: list[Path] = []
        for text in _IMAGE_PATH_RE.findall(observation):
            try:
                path = Path(self.workspace.resolve(text))
            except Exception:
                continue
            if path.is_file() and path not in found:
                found.append(path)
        return found

    def _run_tool(self, tool: Tool, args: list[str]) -> str:
        try:
            with self._tool_lock:
                if not _is_loaded(tool):
                    tool.load()
                return str(tool(format_action_input(args))).strip()
        except Exception as exc:
            if _is_tool_error(exc):
                log.warning("%s: %s", tool.spec.name, exc)
            else:
                log.exception("%s failed", tool.spec.name)
            raise ValueError(f"Error: {tool.spec.name} failed: {exc}") from None

    def _act(self, parsed: ReActStep, raw: str, record: StepRecord) -> tuple[str, list[Path]]:
        """Check and run one tool step, filling ``record``; returns the step text for the prompt and new images.

        A malformed step (``record.kind == "invalid"``) goes back into the prompt as the model wrote it;
        a valid one in the canonical format, whatever the tool's outcome.
        """
        try:
            if parsed.action is None:
                raise _Invalid("Error: invalid format. Write 'Action:' and 'Action Input:' lines, "
                               "or 'AI:' followed by the reply.")
            tool = self._find_tool(parsed.action)
            if parsed.action_input is None:
                raise _Invalid(f"Error: invalid format: missing 'Action Input:' after 'Action: {parsed.action}'.")
            args = self._check_args(tool.spec, parsed.action_input)
        except _Invalid as exc:
            record.kind, record.observation = "invalid", str(exc)
            return raw.rstrip() + "\n", []
        produced: list[Path] = []
        t0 = time.perf_counter()
        try:
            self._check_paths(tool.spec, args)
            record.observation, record.kind = self._run_tool(tool, args), "tool"
            if tool.spec.output is OutputKind.IMAGE:
                produced = self._produced_images(record.observation)
                record.images = [self.workspace.relative(p) for p in produced]
        except ValueError as exc:
            record.observation, record.kind = str(exc), "tool_error"
        record.tool_s = time.perf_counter() - t0
        return tool_step(tool.spec.name, format_action_input(args)), produced

    # ------------------------------------------------------------------ loop
    def run(self, request: str, history: ChatHistory | None = None, session: str = "",
            on_step: Callable[[StepRecord], None] | None = None) -> AgentResult:
        """Answer ``request``; the final exchange is added to ``history``.

        ``on_step`` is called after each step (for UIs that show progress).
        """
        history = history if history is not None else ChatHistory()
        s = self.settings
        start = time.monotonic()
        t0 = time.perf_counter()
        instruction, shown = self.build_prompt(request, history)
        prompt_ms = (time.perf_counter() - t0) * 1000.0
        steps: list[StepRecord] = []
        images: list[Path] = []
        tool_calls = invalid = 0
        answer, stop_reason = None, "answer"
        while True:
            if time.monotonic() - start > s.time_budget_s:
                stop_reason = "time_budget"
                break
            t0 = time.perf_counter()
            raw = self.llm(instruction)
            parsed = parse_step(raw)
            record = StepRecord(len(steps), raw, "answer", parsed.thought, parsed.action, parsed.action_input,
                                prompt_ms=prompt_ms, generate_s=time.perf_counter() - t0)
            steps.append(record)
            if parsed.action is None and parsed.answer is not None:
                answer = _HUMAN_TURN.cut(parsed.answer).strip()
                if on_step is not None:
                    on_step(record)
                break
            step_text, produced = self._act(parsed, raw, record)
            images.extend(p for p in produced if p not in images)
            if on_step is not None:
                on_step(record)
            if record.kind == "invalid":
                invalid += 1
                if invalid > s.max_retries:
                    stop_reason = "max_retries"
                    break
            else:
                tool_calls += 1
                if tool_calls >= s.max_steps:
                    stop_reason = "max_steps"
                    break
            t0 = time.perf_counter()
            instruction = continue_after_observation(instruction, step_text, record.observation or "")
            prompt_ms = (time.perf_counter() - t0) * 1000.0
        if answer is None:
            answer = self._unfinished_answer(stop_reason, steps)
        result = AgentResult(request, answer, stop_reason, steps, images, [t.name for t in shown],
                             time.monotonic() - start)
        history.add_exchange(request, answer)
        self.turn_log.write({"session": session, "kind": "turn", **result.to_dict(self.workspace)})
        log.info("Answered in %d step(s) (%s, %.1f s)", len(steps), result.stop_reason, result.seconds)
        return result

    def _unfinished_answer(self, stop_reason: str | None, steps: list[StepRecord]) -> str:
        why = {"time_budget": f"the time budget of {self.settings.time_budget_s:g} s ran out",
               "max_steps": f"the limit of {self.settings.max_steps} tool steps was reached",
               "max_retries": f"the model wrote {self.settings.max_retries + 1} malformed steps"}.get(
            stop_reason or "", "it stopped")
        last = next((st.observation for st in reversed(steps) if st.kind == "tool"), None)
        text = f"I could not finish: {why}."
        return f"{text} Last tool result: {last}" if last else text
