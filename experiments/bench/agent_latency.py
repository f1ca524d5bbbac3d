"""Agent latency on the CPU: step prompt building, time to first token, per-step latency.

    python experiments/bench/agent_latency.py [--reps 2] [--max-new-tokens 48] [overrides for conf/infer.yaml ...]

Ours and the baseline run side by side in one process (the machine is shared; the ratio is what to read):
- prompt building: our step prompt (relevance-chosen tools, at most ``agent.max_tools_shown``) vs the
  original agent's (every tool listed), both through ``gpt4tools.prompt``; ours must take under 10 ms;
- time to first token (prefill + one token) on our prompt vs the every-tool prompt (what the shorter prompt
  saves), and the first text a streamed step shows vs waiting for the whole step (blocking generation);
- per-step latency: one full step on our prompt, with its token count and seconds per new token.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console
from rich.table import Table

import gpt4tools  # noqa: F401
from gpt4tools.agent import Agent, AgentSettings, ChatHistory
from gpt4tools.agent.build import build_llm
from gpt4tools.catalog import CATALOG
from gpt4tools.prompt import continue_after_observation, render_prompt, tool_step
from gpt4tools.utils.config import compose

REQUEST = "Generate a real image of a red car from the edges of this picture"


def timed(fn, reps: int) -> tuple[float, object]:
    """Median seconds of ``fn()`` over ``reps`` runs, and its last result."""
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def first_piece_seconds(llm, instruction: str) -> float:
    t0 = time.perf_counter()
    stream = llm.stream(instruction)
    next(stream, None)
    elapsed = time.perf_counter() - t0
    stream.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=1, help="model runs per measurement (median)")
    parser.add_argument("--prompt-reps", type=int, default=200, help="prompt builds per measurement")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    console = Console()

    cfg = compose("infer", [f"generation.max_new_tokens={args.max_new_tokens}", *args.overrides],
                  output_dir=tempfile.mkdtemp(prefix="agent-bench-"))
    llm, what = build_llm(cfg)
    tokenizer = llm.generator.tokenizer
    # Every catalog tool is "loaded" for prompt building (only their specs are read).
    tools = {k: SimpleNamespace(spec=s) for k, s in CATALOG.items()}
    agent = Agent(llm, tools, SimpleNamespace(root=Path(tempfile.gettempdir())),
                  AgentSettings(max_tools_shown=cfg.agent.max_tools_shown))
    history = ChatHistory(max_turns=cfg.agent.history_turns)
    history.add_upload("image/abcdefgh.png", "A red car parked on a street next to a tree.")
    history.add_exchange("What color is the car?", "The car is red.")

    ours_s, (ours_prompt, shown) = timed(lambda: agent.build_prompt(REQUEST, history), args.prompt_reps)
    base_s, base_prompt = timed(lambda: render_prompt(list(CATALOG.values()), REQUEST, history.render()),
                                args.prompt_reps)
    step = tool_step("Edge Detection On Image", "image/abcdefgh.png")
    cont_s, _ = timed(lambda: continue_after_observation(ours_prompt, step, "image/1a2b_edge_abcdefgh_abcdefgh.png"),
                      args.prompt_reps)

    def tokens(text: str) -> int:
        return len(tokenizer(llm.generator.render(text))["input_ids"])

    one_token = llm.with_options(max_new_tokens=1)  # time to first token = prefill + one decoding step
    one_token(ours_prompt)  # warm-up
    ttft_s, _ = timed(lambda: one_token(ours_prompt), args.reps)
    base_ttft_s, _ = timed(lambda: one_token(base_prompt), args.reps)
    shown_s = statistics.median(first_piece_seconds(llm, ours_prompt) for _ in range(args.reps))
    step_s, reply = timed(lambda: llm(ours_prompt), args.reps)
    new_tokens = max(1, len(tokenizer(reply, add_special_tokens=False)["input_ids"]))

    console.print(f"model: {what}; {args.reps} run(s) per model measurement, medians")
    console.print(f"tools shown (ours): {', '.join(t.name for t in shown)}")
    console.print(f"first step written by the model: {reply!r}")
    table = Table(title="agent latency (CPU)")
    for col in ("measure", "ours", "baseline", "baseline / ours"):
        table.add_column(col)
    table.add_row("step prompt build (first step)", f"{ours_s * 1e3:.3f} ms", f"{base_s * 1e3:.3f} ms (all tools)",
                  f"{base_s / ours_s:.2f}")
    table.add_row("step prompt build (after an observation)", f"{cont_s * 1e3:.3f} ms", "-", "-")
    table.add_row("prompt tokens", str(tokens(ours_prompt)), f"{tokens(base_prompt)} (all {len(CATALOG)} tools)",
                  f"{tokens(base_prompt) / tokens(ours_prompt):.2f}")
    table.add_row("time to first token (our prompt vs all tools)", f"{ttft_s:.2f} s", f"{base_ttft_s:.2f} s",
                  f"{base_ttft_s / ttft_s:.2f}")
    table.add_row("first text shown (streamed vs blocking step)", f"{shown_s:.2f} s", f"{step_s:.2f} s",
                  f"{step_s / shown_s:.2f}")
    table.add_row("per-step latency (our prompt)", f"{step_s:.2f} s ({new_tokens} tokens, "
                  f"{step_s / new_tokens:.3f} s/token)", "-", "-")
    console.print(table)
    ok = ours_s * 1e3 < 10.0 and cont_s * 1e3 < 10.0
    console.print(f"step prompt under 10 ms: {'yes' if ok else 'NO'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
