"""Build the agent's parts from the composed ``infer`` config."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gpt4tools.agent.llm import GeneratorLLM
from gpt4tools.agent.loop import Agent, AgentSettings
from gpt4tools.agent.protocols import Tool, Workspace
from gpt4tools.agent.turnlog import TurnLog
from gpt4tools.catalog import select_tools

log = logging.getLogger(__name__)

SAMPLE_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "sample.jpg"
"""The bundled sample photo used when no image is given."""


def find_latest_adapter(output_root: str | Path) -> Path | None:
    """The newest ``<output_root>/train/*/adapter`` folder holding ``adapter_config.json`` (None if none)."""
    found = [p.parent for p in Path(output_root).glob("train/*/adapter/adapter_config.json")]
    found += [p.parent for p in Path(output_root).glob("train/multirun/*/*/adapter/adapter_config.json")]
    if not found:
        return None
    return max(found, key=lambda p: (p / "adapter_config.json").stat().st_mtime)


def resolve_adapter(cfg: DictConfig) -> Path | None:
    """The adapter to load: ``adapter=auto`` finds the last training run's, ``adapter=null`` means none."""
    choice = cfg.get("adapter")
    if choice is None or str(choice).lower() in ("none", "null", ""):
        return None
    if str(choice) == "auto":
        return find_latest_adapter(cfg.paths.output_root)
    from gpt4tools.models.choice import check_adapter_folder

    check_adapter_folder(choice)  # a named error: what the path is instead
    return Path(str(choice))


def build_llm(cfg: DictConfig) -> tuple[GeneratorLLM, str]:
    """Load the backbone (+ adapter) and wrap it for the agent; returns (llm, a line saying what was loaded).

    The base model is the adapter's own (``model`` left out) or ``model=`` (checked against the adapter); an
    adapter that does not fit is an error, never a silent fall-back to the base model.
    """
    from gpt4tools.inference import Generator, load_for_inference, resolve_device
    from gpt4tools.models.choice import base_model_for

    adapter = resolve_adapter(cfg)
    merged = cfg.get("merged")
    model_cfg = base_model_for(adapter, cfg.get("model"))
    placement = {"dtype": str(cfg.get("dtype", "auto")), "device": resolve_device(str(cfg.get("llm_device", "auto")))}
    model, tokenizer = load_for_inference(model_cfg, adapter=adapter, merged=merged, **placement)
    if merged is not None:
        what = f"{model_cfg.name} merged weights from {merged}"
    elif adapter is not None:
        what = f"{model_cfg.name} + LoRA adapter {adapter}"
    else:
        what = f"{model_cfg.name} base model, no adapter" + (
            " (no training run with an adapter was found under "
            f"{cfg.paths.output_root}/train; run `make demo` to train one)" if str(cfg.get("adapter")) == "auto" else "")
    gen = cfg.generation
    generator = Generator(model, tokenizer, model_cfg.chat_template, max_new_tokens=gen.max_new_tokens, batch_size=1,
                          stop=list(gen.get("stop") or []), do_sample=gen.do_sample, temperature=gen.temperature,
                          constrain_actions=bool(gen.get("constrain_actions", False)))
    return GeneratorLLM(generator, name=str(cfg.get("served_model_name") or model_cfg.name)), what


def build_workspace(cfg: DictConfig) -> Workspace:
    """The workspace folder of this run."""
    from gpt4tools.tools import Workspace as ToolWorkspace

    root = Path(cfg.agent.workspace)
    root.mkdir(parents=True, exist_ok=True)
    return ToolWorkspace(root)


def build_agent_tools(cfg: DictConfig, workspace: Workspace) -> dict[str, Tool]:
    """The configured tools; with ``agent.only_available_tools`` those without weights are left out (logged)."""
    from gpt4tools.tools import build_tools

    keys = [s.key for s in select_tools(cfg.tools.split, cfg.tools.get("include"), cfg.tools.get("exclude"))]
    # ``tool_backends`` holds weights, devices and the original-style ``load`` string (which selects tools too).
    tools = build_tools(keys, workspace, backends_cfg=cfg.get("tool_backends"))
    if cfg.agent.only_available_tools:
        kept: dict[str, Tool] = {}
        for key, tool in tools.items():
            ok, why = tool.weights_available()
            if ok:
                kept[key] = tool
            else:
                log.info("Tool %s left out: %s", tool.spec.name, why)
        tools = kept
    if not tools:
        raise RuntimeError("no tool is available: every configured tool lacks its weights "
                           "(set agent.only_available_tools=false to list them anyway)")
    log.info("Tools: %s", ", ".join(t.spec.name for t in tools.values()))
    return tools


def agent_settings(cfg: DictConfig) -> AgentSettings:
    """The loop's budgets from ``cfg.agent``."""
    a = cfg.agent
    return AgentSettings(max_steps=a.max_steps, max_retries=a.max_retries, time_budget_s=a.time_budget_s,
                         max_tools_shown=a.max_tools_shown)


def build_agent(cfg: DictConfig, llm: Any = None, tools: dict[str, Tool] | None = None,
                workspace: Workspace | None = None) -> Agent:
    """The agent of ``cfg``; any part given is used instead of being built (tests, servers)."""
    if llm is None:
        llm, what = build_llm(cfg)
        log.info("Model: %s", what)
    workspace = workspace if workspace is not None else build_workspace(cfg)
    tools = tools if tools is not None else build_agent_tools(cfg, workspace)
    return Agent(llm, tools, workspace, agent_settings(cfg), TurnLog(Path(workspace.root) / cfg.agent.log_name),
                 default_caption=cfg.agent.default_caption)
