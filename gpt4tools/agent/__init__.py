"""The visual agent: a small ReAct loop over the catalog's tools, its history, turn log and builders.

Public API: :class:`Agent`, :class:`ChatSession`, :class:`AgentSettings`, :class:`AgentResult`,
:class:`ChatHistory`, :class:`ToolRanker`, :class:`TurnLog`, :class:`GeneratorLLM`; ``run.run(cfg)`` is
what ``infer.py`` calls.
"""

from gpt4tools.agent.history import ChatHistory
from gpt4tools.agent.llm import GeneratorLLM
from gpt4tools.agent.loop import Agent, AgentSettings, UploadRefused
from gpt4tools.agent.records import AgentResult, StepRecord
from gpt4tools.agent.selection import ToolRanker
from gpt4tools.agent.session import ChatSession
from gpt4tools.agent.turnlog import TurnLog

__all__ = ["Agent", "AgentResult", "AgentSettings", "ChatHistory", "ChatSession", "GeneratorLLM", "StepRecord",
           "ToolRanker", "TurnLog", "UploadRefused"]
