"""Per-tool load time, memory and first-call time, for the README's tool table (run on the target machine)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from gpt4tools.catalog import ArgKind
from gpt4tools.tools.base import Tool
from gpt4tools.tools.errors import ToolError

log = logging.getLogger(__name__)

SAMPLE_TEXT = {ArgKind.TEXT: "a cat", ArgKind.BOX: "[64, 64, 320, 320]"}


@dataclass
class ToolProfile:
    """One tool's measurements (None where it could not be measured)."""

    key: str
    device: str
    load_s: float | None
    call_s: float | None
    memory_mb: float | None  # CUDA: peak allocated during load + call; CPU: resident-set growth
    note: str = ""


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def profile_tool(tool: Tool, image_path: str) -> ToolProfile:
    """Load ``tool`` (timed), call it once on ``image_path`` with sample text (timed), then unload it."""
    import torch

    cuda = tool.device.startswith("cuda") and torch.cuda.is_available()
    ok, note = tool.weights_available()
    if not ok:
        return ToolProfile(tool.key, tool.device, None, None, None, "weights missing")
    if cuda:
        torch.cuda.synchronize(tool.device)
        torch.cuda.reset_peak_memory_stats(tool.device)
        base = torch.cuda.memory_allocated(tool.device)
    else:
        base = _rss_mb()
    args = [image_path if kind is ArgKind.IMAGE else SAMPLE_TEXT[kind] for kind in tool.spec.args]
    start = time.perf_counter()
    try:
        tool.load()
        if cuda:
            torch.cuda.synchronize(tool.device)
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        tool(", ".join(args))
        if cuda:
            torch.cuda.synchronize(tool.device)
        call_s = time.perf_counter() - start
        note = ""
    except ToolError as err:
        load_s = load_s if "load_s" in locals() else None
        call_s, note = None, f"{type(err).__name__}: {err}"
    memory = ((torch.cuda.max_memory_allocated(tool.device) - base) / 2**20) if cuda else _rss_mb() - base
    tool.unload()
    return ToolProfile(tool.key, tool.device, load_s, call_s, memory, note)
