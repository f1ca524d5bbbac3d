"""A local transformers causal LM as teacher: batched generation with left padding and the model's chat template."""

from __future__ import annotations

from collections.abc import Sequence

from gpt4tools.data.teachers.base import Teacher, TeacherRequest
from gpt4tools.data.teachers.cache import ReplyCache
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


class HFTeacher(Teacher):
    """Generates replies with a causal LM loaded through ``gpt4tools.models`` (or given directly)."""

    name = "hf_local"

    def __init__(self, model_cfg=None, model=None, tokenizer=None, batch_size: int = 4, max_new_tokens: int = 1024,
                 temperature: float = 0.7, do_sample: bool = True, seed: int = 0, progress: bool = True,
                 cache_dir: str | None = None):
        if model is None or tokenizer is None:
            from gpt4tools.models import load_model, load_tokenizer

            tokenizer = tokenizer or load_tokenizer(model_cfg)
            model = model or load_model(model_cfg, tokenizer)
        self.model, self.tokenizer = model, tokenizer
        self.batch_size = max(1, int(batch_size))
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.do_sample = do_sample
        self.seed = seed
        self.progress = progress
        self.usage = {"requests": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self.cache = ReplyCache(cache_dir) if cache_dir else None
        self.model_id = str(getattr(getattr(model, "config", None), "_name_or_path", "") or getattr(model_cfg, "name", ""))

    def usage_summary(self) -> dict:
        return dict(self.usage)

    def _render(self, req: TeacherRequest) -> str:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            msgs = [{"role": "user", "content": req.prompt()}]
            return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return req.prompt() + "\n"

    def _key(self, req: TeacherRequest) -> dict:
        return {"model": self.model_id, "prompt": self._render(req), "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature, "do_sample": self.do_sample, "seed": self.seed, "sample": req.sample}

    def complete(self, requests: Sequence[TeacherRequest]) -> list[str]:
        """Replies in request order: cached ones read back, the rest generated ``batch_size`` at a time."""
        out: list[str | None] = [None] * len(requests)
        todo = []
        for i, req in enumerate(requests):
            hit = self.cache.get(self._key(req)) if self.cache else None
            if hit is None:
                todo.append(i)
            else:
                out[i] = hit
                self.usage["cached"] += 1
        fresh = self._generate([requests[i] for i in todo])
        for i, text in zip(todo, fresh):
            out[i] = text
        return [o or "" for o in out]

    def _generate(self, requests: Sequence[TeacherRequest]) -> list[str]:
        import torch
        from tqdm.auto import tqdm

        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        torch.manual_seed(self.seed)
        device = next(self.model.parameters()).device
        out: list[str] = []
        batches = range(0, len(requests), self.batch_size)
        for start in tqdm(batches, desc="teacher hf", disable=not self.progress):
            chunk = requests[start:start + self.batch_size]
            enc = tok([self._render(r) for r in chunk], return_tensors="pt", padding=True,
                      add_special_tokens=False).to(device)
            with torch.no_grad():
                gen = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
                                          temperature=self.temperature if self.do_sample else None,
                                          pad_token_id=tok.pad_token_id)
            new = gen[:, enc["input_ids"].shape[1]:]
            texts = tok.batch_decode(new, skip_special_tokens=True)
            if self.cache:
                for req, text in zip(chunk, texts):
                    self.cache.put(self._key(req), text)
            out.extend(texts)
            self.usage["requests"] += len(chunk)
            self.usage["prompt_tokens"] += int(enc["attention_mask"].sum())
            self.usage["completion_tokens"] += int((new != tok.pad_token_id).sum())
        return out
