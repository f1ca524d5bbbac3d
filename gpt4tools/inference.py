"""Shared inference: a backbone (+ LoRA adapter or merged folder) and batched, stop-aware generation.

Evaluation and the agent both generate through :class:`Generator`, so a prompt is rendered, stopped
and cut the same way everywhere (stop strings: :mod:`gpt4tools.stops`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import StoppingCriteriaList

from gpt4tools.models import DTYPES, load_model, load_tokenizer
from gpt4tools.models.choice import attach_adapter, check_adapter_base
from gpt4tools.prompt import ChatTemplate, get_chat_template
from gpt4tools.stops import StopStrings
from gpt4tools.utils.machine import cpu_has_fast_bf16

log = logging.getLogger(__name__)


def inference_dtype(name: str, device: str | torch.device = "cpu") -> torch.dtype:
    """The dtype to generate in on ``device``.

    ``auto``: on CUDA bf16 where supported, else fp16 (what the original evaluation used on GPUs); on a
    CPU with native bf16 matrix units bf16 (~3x faster prefill than fp32 for SmolLM2), else fp32.
    """
    if name != "auto":
        if name not in DTYPES:
            raise ValueError(f"dtype={name!r}: choose one of {', '.join(DTYPES)}")
        return DTYPES[name]
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
    return torch.float32


def resolve_device(name: str = "auto") -> str:
    """``auto``: ``cuda:<LOCAL_RANK>`` when CUDA is available (one device per rank), else ``cpu``."""
    if name != "auto":
        return name
    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"


def load_for_inference(model_cfg: Any, adapter: str | Path | None = None, merged: str | Path | None = None,
                       dtype: str | None = None, device: str | torch.device | None = None):
    """Load (model, tokenizer) for generation.

    Args:
        model_cfg: the base model's ``model`` config node (:func:`gpt4tools.models.choice.base_model_for` picks it
            for an adapter); an adapter of ours trained on another base is refused before any weight loads.
        adapter: a peft adapter folder (``adapter_config.json``), or None. Its LoRA weights are merged into the
            base in the loaded precision, in place: the model stays a peft model, so ``with model.disable_adapter():``
            generates with the base weights (the zero-shot baseline, from the same loaded model).
        merged: a plain HF folder holding a merged model; replaces the base weights when given.
        dtype: cast the (merged) weights to this dtype (``auto``: see :func:`inference_dtype`);
            None keeps ``model.dtype``.
        device: move the model there (None: where it was loaded).

    Raises:
        AdapterMismatchError: the adapter belongs to another base (by its recorded name, or by its tensors).
    """
    if adapter is not None:
        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{adapter} is not a peft adapter folder (no adapter_config.json)")
        check_adapter_base(model_cfg, adapter)
    if merged is not None:
        model_cfg = dict(model_cfg) | {"source": "hub", "path": str(merged)}
    tokenizer = load_tokenizer(model_cfg)
    model = load_model(model_cfg, tokenizer)
    if adapter is not None:
        model = attach_adapter(model, adapter, model_cfg)
        model.merge_adapter()
        log.info("Loaded adapter %s", adapter)
    if device is not None:
        model.to(device)
    if dtype is not None and getattr(model, "hf_quantizer", None) is None:
        target = inference_dtype(str(dtype), model.device)
        if target != model.dtype:
            model.to(target)
            log.info("Generating in %s on %s", str(target).removeprefix("torch."), model.device)
    model.eval()
    return model, tokenizer


@dataclass
class Generator:
    """Greedy (or sampled) generation of one assistant step for many instructions.

    Prompts are rendered through the chat template; a step stops at ``\\nObservation:``, the template's end
    of turn and the ``stop`` strings added here (:attr:`stops`, :meth:`gpt4tools.stops.StopStrings.for_step`).
    ``engine``: ``ragged`` decodes greedily in a continuous batch of ``batch_size`` rows
    (:mod:`gpt4tools.decoding`: no prefill padding, ended rows replaced at once); ``hf`` uses
    ``model.generate`` on length-sorted, left-padded batches (sampling, or caches the ragged engine
    does not handle: a model whose cache is not plain full attention, such as sliding-window layers, decodes
    with ``model.generate`` under ``ragged`` too, and the run logs it). ``constrain_actions``: after ``Action:`` only
    the tools the prompt lists may be named (:mod:`gpt4tools.constrained`); off, generation is free.
    """

    model: Any
    tokenizer: Any
    template: ChatTemplate | str
    max_new_tokens: int = 256
    batch_size: int = 8
    stop: Sequence[str] | None = None  # extra stop strings (the step's own always apply)
    do_sample: bool = False
    temperature: float = 1.0
    engine: str = "ragged"
    constrain_actions: bool = False

    def __post_init__(self) -> None:
        self.template = get_chat_template(self.template)
        self.stops = StopStrings.for_step(self.template, self.stop or ())
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def _use_ragged(self) -> bool:
        if self.engine not in ("ragged", "hf"):
            raise ValueError(f"engine={self.engine!r}: choose ragged or hf")
        if self.engine == "hf" or self.do_sample:
            return False
        if not hasattr(self, "_ragged_ok"):
            from gpt4tools.decoding import supports_ragged_model

            self._ragged_ok = supports_ragged_model(self.model)
            if not self._ragged_ok:
                log.info("%s: its cache is not plain full attention, which the ragged engine needs; generating "
                         "with model.generate",
                         type(self.model).__name__)
        return self._ragged_ok

    def _eos_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids.update(configured if isinstance(configured, (list, tuple)) else [configured])
        return sorted(int(i) for i in ids if i is not None)

    def _iter_ragged(self, prompts: Sequence[str]) -> Iterator[tuple[int, str]]:
        from gpt4tools.decoding import iter_ragged_greedy

        ids = self.tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
        for i, new in iter_ragged_greedy(self.model, ids, max_new_tokens=self.max_new_tokens,
                                         eos_token_ids=self._eos_ids(), stops=self.stops,
                                         tokenizer=self.tokenizer, max_batch=self.batch_size,
                                         allowed_tokens=self._allowed_tokens(prompts)):
            yield i, self.stops.cut(self.tokenizer.decode(new, skip_special_tokens=True))

    def _allowed_tokens(self, prompts: Sequence[str]):
        if not self.constrain_actions:
            return None
        from gpt4tools.constrained import prompt_constraints

        return prompt_constraints(self.tokenizer, prompts)

    def _logits_processors(self, prompts: Sequence[str], prompt_width: int) -> dict[str, Any]:
        """``model.generate`` keyword for the action-name constraint (empty when it is off)."""
        allowed = self._allowed_tokens(prompts)
        if allowed is None:
            return {}
        from transformers import LogitsProcessorList

        from gpt4tools.constrained import AllowedTokensProcessor

        return {"logits_processor": LogitsProcessorList([AllowedTokensProcessor(allowed, range(len(prompts)),
                                                                                prompt_width)])}

    def render(self, instruction: str, input_text: str = "") -> str:
        """The model input for one instruction."""
        return self.template.render_prompt(instruction, input_text)

    @torch.inference_mode()
    def generate_batch(self, prompts: Sequence[str]) -> list[str]:
        """Generate for already-rendered prompts; returns texts cut at the stops, in order."""
        if self._use_ragged():
            texts = [""] * len(prompts)
            for i, text in self._iter_ragged(prompts):
                texts[i] = text
            return texts
        enc = self.tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=True)
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample,
                                  "pad_token_id": self.tokenizer.pad_token_id}
        if self.stops:
            kwargs["stopping_criteria"] = StoppingCriteriaList([self.stops.criteria(self.tokenizer)])
        if self.do_sample:
            kwargs["temperature"] = self.temperature
        kwargs.update(self._logits_processors(prompts, enc["input_ids"].shape[1]))
        out = self.model.generate(**enc, **kwargs)
        new_tokens = out[:, enc["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [self.stops.cut(t) for t in texts]

    def batches(self, instructions: Sequence[str]) -> Iterator[list[int]]:
        """Indices of ``instructions`` grouped into batches of similar length (longest first)."""
        order = sorted(range(len(instructions)), key=lambda i: -len(instructions[i]))
        for start in range(0, len(order), self.batch_size):
            yield order[start:start + self.batch_size]

    def iter_generate(self, instructions: Sequence[str],
                      inputs: Sequence[str] | None = None) -> Iterator[tuple[list[int], list[str]]]:
        """Generate batch by batch (longest first), yielding ``(indices, texts)`` as each batch ends.

        Lets a caller persist results incrementally (an interrupted evaluation resumes from them).
        The ragged engine yields one item at a time, as each ends.
        """
        if self._use_ragged():
            prompts = [self.render(ins, inputs[i] if inputs is not None else "") for i, ins in enumerate(instructions)]
            for i, text in self._iter_ragged(prompts):
                yield [i], [text]
            return
        for idx in self.batches(instructions):
            prompts = [self.render(instructions[i], inputs[i] if inputs is not None else "") for i in idx]
            yield idx, self.generate_batch(prompts)

    def generate(self, instructions: Sequence[str], inputs: Sequence[str] | None = None) -> list[str]:
        """One assistant step for each instruction, in input order."""
        results: list[str] = [""] * len(instructions)
        for idx, texts in self.iter_generate(instructions, inputs):
            for i, text in zip(idx, texts):
                results[i] = text
        return results

    def stream(self, instruction: str, input_text: str = "",
               cancel: threading.Event | None = None) -> Iterator[str]:
        """Generate one assistant step for one instruction, yielding text pieces as they are decoded.

        The concatenated pieces equal ``generate([instruction])[0]`` for greedy decoding: text that
        could be the start of a stop string is held back until it is known not to be one. Setting
        ``cancel`` (or closing the iterator) ends generation at the next token.
        """
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        cancel = cancel or threading.Event()

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return cancel.is_set()

        prompt = self.render(instruction, input_text)
        enc = self.tokenizer([prompt], return_tensors="pt", add_special_tokens=True)
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample,
                                  "pad_token_id": self.tokenizer.pad_token_id, "streamer": streamer,
                                  "stopping_criteria": StoppingCriteriaList(
                                      [_Cancelled(), *([self.stops.criteria(self.tokenizer)] if self.stops else [])])}
        if self.do_sample:
            kwargs["temperature"] = self.temperature
        kwargs.update(self._logits_processors([prompt], enc["input_ids"].shape[1]))
        errors: list[BaseException] = []

        def _work() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**enc, **kwargs)
            except BaseException as exc:  # re-raised in the consumer
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=_work, daemon=True)
        worker.start()
        text, sent, stopped = "", 0, False
        try:
            for piece in streamer:
                if stopped:
                    continue
                text += piece
                cut = self.stops.cut(text)
                if len(cut) < len(text):
                    text, stopped = cut, True
                    cancel.set()
                    safe = len(text)
                else:
                    safe = len(text) - self.stops.pending(text)
                if safe > sent:
                    yield text[sent:safe]
                    sent = safe
            if sent < len(text):
                yield text[sent:]
        finally:
            cancel.set()
            worker.join()
        if errors:
            raise errors[0]

