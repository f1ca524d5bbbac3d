"""What an evaluation scores: a model loaded here (base + adapter or merged folder), a model already in memory,
an OpenAI-compatible endpoint, or a predictions file - and the generator each gives.

A model with a LoRA adapter stays a peft model (its weights merged in place, in the loaded precision, so the tuned
model generates exactly as a merged one): the zero-shot baseline is the same loaded model inside
``model.disable_adapter()``, which unmerges the LoRA product - never a second load. In fp32 that gives back the base
weights; generating in bf16/fp16 they differ from a fresh load by at most that dtype's rounding.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpt4tools.evaluation.settings import EvalSettings, GenerationSettings
from gpt4tools.utils.errors import ConfigError
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class LocalModel:
    """A base model loaded here, with a peft adapter folder or from a merged HF folder.

    ``model`` is the base's ``model`` node; None takes the one the adapter records (an adapter of ours names its
    base), or the default model without an adapter (:func:`gpt4tools.models.choice.base_model_for`).
    """

    model: Mapping[str, Any] | None = None
    adapter: str | Path | None = None
    merged: str | Path | None = None


@dataclass(frozen=True)
class LoadedModel:
    """A causal LM already in memory (benchmarks, notebooks); a peft model's adapter is disabled for zero-shot."""

    model: Any
    tokenizer: Any
    template: Any
    name: str = "model"


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible server (zero-shot API baselines); fields as ``endpoint:`` in ``conf/evaluate.yaml``."""

    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    api: str = "chat"
    concurrency: int = 4
    max_retries: int = 5
    timeout: float = 60.0


@dataclass(frozen=True)
class PredictionsFile:
    """Predictions written before: ours (a file or a folder of shards) or the original's formats."""

    path: str | Path
    format: str = "auto"


Source = LocalModel | LoadedModel | Endpoint | PredictionsFile


@dataclass
class Opened:
    """A source ready to generate: its generator, the meta that identifies its predictions, and the peft model
    whose adapter the zero-shot baseline disables (None when there is none)."""

    generator: Any
    meta: dict[str, Any]
    peft_model: Any = None

    @contextlib.contextmanager
    def without_adapter(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        """The same generator with the adapter disabled (the base model) and that baseline's meta."""
        with self.peft_model.disable_adapter():
            yield self.generator, {**self.meta, "adapter": None}


def source_label(source: Source) -> str:
    """The name a source's reports carry when ``label`` is not set."""
    if isinstance(source, PredictionsFile):
        return Path(source.path).stem
    if isinstance(source, Endpoint):
        return source.model
    if isinstance(source, LoadedModel):
        return source.name
    if source.adapter:
        p = Path(source.adapter)
        return f"{p.parent.name}/{p.name}" if p.name in ("adapter", "final") else p.name
    from gpt4tools.models.choice import base_model_for

    return str(base_model_for(None, source.model).name) + ("-merged" if source.merged else "")


def make_generator(model: Any, tokenizer: Any, template: Any, gen: GenerationSettings):
    """The shared :class:`gpt4tools.inference.Generator` for generation settings."""
    from gpt4tools.inference import Generator

    return Generator(model, tokenizer, template, max_new_tokens=gen.max_new_tokens, batch_size=gen.batch_size,
                     stop=gen.stop, do_sample=gen.do_sample, temperature=gen.temperature, engine=gen.engine,
                     constrain_actions=gen.constrain_actions)


def _endpoint(source: Endpoint, gen: GenerationSettings) -> Opened:
    from gpt4tools.evaluation.endpoint import EndpointGenerator

    if gen.constrain_actions:
        raise ConfigError("generation.constrain_actions=true needs a local model (an endpoint's logits are not "
                         "ours to mask): set generation.constrain_actions=false with endpoint.model")
    generator = EndpointGenerator(**dataclasses.asdict(source), max_new_tokens=gen.max_new_tokens,
                                  temperature=gen.temperature if gen.do_sample else 0.0, stop=gen.stop or [])
    return Opened(generator, {"endpoint": source.model, "base_url": source.base_url, "api": source.api})


def _local(source: LocalModel, settings: EvalSettings) -> Opened:
    from gpt4tools.inference import load_for_inference, resolve_device
    from gpt4tools.models.choice import base_model_for

    model_cfg = base_model_for(source.adapter, source.model)
    model, tokenizer = load_for_inference(model_cfg, adapter=source.adapter, merged=source.merged,
                                          dtype=settings.dtype, device=resolve_device(settings.device))
    generator = make_generator(model, tokenizer, model_cfg.chat_template, settings.generation)
    meta = {"model": str(model_cfg.name), "adapter": str(source.adapter) if source.adapter else None,
            "merged": str(source.merged) if source.merged else None, "template": str(model_cfg.chat_template),
            "dtype": str(model.dtype).removeprefix("torch.")}
    return Opened(generator, meta, model if source.adapter else None)


def _loaded(source: LoadedModel, gen: GenerationSettings) -> Opened:
    generator = make_generator(source.model, source.tokenizer, source.template, gen)
    peft = source.model if hasattr(source.model, "disable_adapter") else None
    meta = {"model": source.name, "adapter": "in memory" if peft is not None else None,
            "template": generator.template.name, "dtype": str(source.model.dtype).removeprefix("torch.")}
    return Opened(generator, meta, peft)


def open_source(source: Source, settings: EvalSettings) -> Opened:
    """Load what ``source`` needs to generate (not for :class:`PredictionsFile`, which generates nothing)."""
    if isinstance(source, Endpoint):
        opened = _endpoint(source, settings.generation)
    elif isinstance(source, LocalModel):
        opened = _local(source, settings)
    elif isinstance(source, LoadedModel):
        opened = _loaded(source, settings.generation)
    else:
        raise TypeError(f"{type(source).__name__} does not generate")
    opened.meta["generation"] = settings.generation.meta()
    return opened
