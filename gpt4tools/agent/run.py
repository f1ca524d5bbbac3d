"""``python infer.py``: instantiate the front end ``cfg.app`` names (``_target_``) and hand it the agent's parts."""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from gpt4tools.agent.build import build_agent, build_llm
from gpt4tools.agent.llm import GeneratorLLM
from gpt4tools.agent.loop import Agent
from gpt4tools.agent.records import AgentResult

log = logging.getLogger(__name__)


class AgentParts:
    """What a front end builds from the infer config, when it asks: the LLM alone, or the agent."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg

    def llm(self) -> GeneratorLLM:
        """The backbone (+ adapter) wrapped for the agent; logs what was loaded."""
        llm, what = build_llm(self.cfg)
        log.info("Model: %s", what)
        return llm

    def agent(self, llm: GeneratorLLM | None = None) -> Agent:
        """The agent over ``llm`` (built here when None); logs its workspace."""
        agent = build_agent(self.cfg) if llm is None else build_agent(self.cfg, llm=llm)
        log.info("Workspace: %s (turn log %s)", agent.workspace.root, agent.turn_log.path)
        return agent


def run(cfg: DictConfig) -> AgentResult | None:
    """Run the front end ``cfg.app`` (``app=cli|chat|web|api``: a ``_partial_`` of its ``_target_``).

    The front end is called with the config's ``AgentParts`` and builds what it needs; returns the
    one-shot result (``app=cli``), else None.
    """
    import torch
    from hydra.utils import instantiate

    torch.manual_seed(cfg.seed)
    app = instantiate(cfg.app)
    return app(AgentParts(cfg))
