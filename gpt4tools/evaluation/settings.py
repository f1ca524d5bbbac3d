"""Evaluation settings: the typed view of ``conf/evaluation/default.yaml`` (its keys are exactly these fields).

``evaluate.py`` reads them from the top level of its config, ``train.py``'s closing evaluation from ``eval:``;
code builds them with :meth:`EvalSettings.from_config` (the YAML file's defaults, then any changes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

from gpt4tools.evaluation.scoring import SCORERS
from gpt4tools.utils.config import CONFIG_DIR
from gpt4tools.utils.errors import ConfigError

DEFAULTS_FILE = CONFIG_DIR / "evaluation" / "default.yaml"
ENGINES: tuple[str, ...] = ("ragged", "hf")
EXECUTION_KEYS: tuple[str, ...] = ("batch_size", "engine")
"""Generation settings that change how predictions are computed, not what they are (left out of their meta)."""


@dataclass(frozen=True)
class GenerationSettings:
    """How one assistant step is generated per item (``generation:``)."""

    max_new_tokens: int
    batch_size: int
    engine: str
    do_sample: bool
    temperature: float
    stop: list[str] | None
    constrain_actions: bool

    def meta(self) -> dict[str, Any]:
        """What identifies the predictions these settings produce (execution-only keys left out; an unconstrained
        run keeps the meta it had before the option existed, so its predictions still resume)."""
        out = dataclasses.asdict(self)
        for key in EXECUTION_KEYS:
            out.pop(key)
        if not self.constrain_actions:
            out.pop("constrain_actions")
        return out


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation generates and how it scores and reports (see ``conf/evaluation/default.yaml``)."""

    limit: int | None
    keep_no_tool: bool
    generation: GenerationSettings
    scorers: list[str]
    args_threshold: float
    zero_shot: bool
    zero_shot_limit: int | None
    label: str | None
    plots: bool
    resume: bool
    device: str
    dtype: str

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The setting names (the keys of ``conf/evaluation/default.yaml``)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None = None, strict: bool = False, **changes: Any) -> EvalSettings:
        """The defaults file, overridden by ``node``'s setting keys, then by ``changes``.

        ``node`` may be a whole config (``evaluate.py``'s top level: its other keys are ignored) or, with
        ``strict``, exactly an evaluation node, whose unknown keys are refused.

        Raises:
            ConfigError: an unknown key (in ``changes``, or in ``node`` with ``strict``) or a bad value.
        """
        node = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node or {})
        unknown = sorted(((set(node) if strict else set()) | set(changes)) - set(cls.keys()))
        if unknown:
            raise ConfigError(f"unknown evaluation setting(s) {', '.join(unknown)}; the settings are "
                             f"{', '.join(cls.keys())} ({DEFAULTS_FILE.relative_to(CONFIG_DIR.parent)})")
        merged = OmegaConf.to_container(OmegaConf.merge(
            OmegaConf.load(DEFAULTS_FILE), {k: v for k, v in node.items() if k in cls.keys()}, changes), resolve=True)
        gen = merged.pop("generation")
        gen["stop"] = list(gen["stop"]) if gen.get("stop") else None
        settings = cls(generation=GenerationSettings(**gen), **{**merged, "scorers": list(merged["scorers"])})
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse values that would fail late (after a model has generated).

        Raises:
            ConfigError: naming the setting and what it takes.
        """
        bad = [s for s in self.scorers if s not in SCORERS]
        if bad:
            raise ConfigError(f"unknown scorer(s) {', '.join(bad)}; choose from {', '.join(SCORERS)}")
        if self.generation.engine not in ENGINES:
            raise ConfigError(f"generation.engine={self.generation.engine!r}: choose {', '.join(ENGINES)}")
        for name in ("limit", "zero_shot_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"{name}={value}: give a positive number of items, or null for all of them")
        if self.generation.max_new_tokens is None or int(self.generation.max_new_tokens) < 1:
            raise ConfigError(f"generation.max_new_tokens={self.generation.max_new_tokens}: give a positive number "
                              f"of tokens")
        if int(self.generation.batch_size) < 1:
            raise ConfigError(f"generation.batch_size={self.generation.batch_size}: give a positive number of items")
