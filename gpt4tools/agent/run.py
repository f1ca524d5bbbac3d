"""``python infer.py``: build the agent from the config and hand it to the chosen front end (``app=``)."""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from gpt4tools.agent.build import SAMPLE_IMAGE, build_agent, build_agent_tools, build_llm, build_workspace
from gpt4tools.agent.records import AgentResult
from gpt4tools.agent.session import ChatSession

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> AgentResult | None:
    """Run the front end ``cfg.app.name`` (cli one-shot or chat, web, api); returns the one-shot result."""
    import torch

    torch.manual_seed(cfg.seed)
    name = cfg.app.name
    if name == "api":
        return _serve_api(cfg)
    agent = build_agent(cfg)
    log.info("Workspace: %s (turn log %s)", agent.workspace.root, agent.turn_log.path)
    if name == "web":
        from gpt4tools.apps.web import create_web_app, launch_web

        demo = create_web_app(agent, cfg.agent.history_turns, cfg.app.title)
        launch_web(demo, agent, cfg.app.host, cfg.app.port, cfg.app.share)
        return None
    if name != "cli":
        raise ValueError(f"unknown app {name!r}: use app=cli, app=chat, app=web or app=api")
    from gpt4tools.apps.cli import chat, one_shot

    session = ChatSession(agent, cfg.agent.history_turns)
    image = cfg.image or SAMPLE_IMAGE
    if cfg.image is None:
        log.info("No image given: using the bundled sample %s", SAMPLE_IMAGE.name)
    if cfg.app.interactive:
        chat(session, image)
        return None
    if not cfg.prompt:
        raise ValueError("prompt is empty: pass prompt=\"...\" or use app=chat")
    return one_shot(session, image, cfg.prompt)


def _serve_api(cfg: DictConfig) -> None:
    from gpt4tools.agent.build import agent_settings
    from gpt4tools.agent.loop import Agent
    from gpt4tools.agent.turnlog import TurnLog
    from gpt4tools.apps.api import create_api, serve

    llm, what = build_llm(cfg)
    log.info("Model: %s", what)
    agent = None
    try:
        workspace = build_workspace(cfg)
        tools = build_agent_tools(cfg, workspace)
        agent = Agent(llm, tools, workspace, agent_settings(cfg),
                      TurnLog(workspace.root / cfg.agent.log_name), cfg.agent.default_caption)
    except (ImportError, RuntimeError) as exc:
        log.warning("Serving the model only; /v1/agent is off: %s", exc)
    serve(create_api(llm, agent, history_turns=cfg.agent.history_turns), cfg.app.host, cfg.app.port)
