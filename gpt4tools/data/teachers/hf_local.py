"""A local transformers causal LM as teacher: batched generation with left padding and the model's chat template."""

from __future__ import annotations

from collections.abc import Sequence

from gpt4tools.data.teachers.base import Teacher, TeacherRequest
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


class HFTeacher(Teacher):
    """Generates replies with a causal LM loaded through ``gpt4tools.models`` (or given directly)."""

    name = "hf_local"

    def __init__(self, model_cfg=None, model=None, tokenizer=None, batch_size: int = 4, max_new_tokens: int = 1024,
                 temperature: float = 0.7, do_sample: bool = True, seed: int = 0, progress: bool = True):
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
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}

    def usage_summary(self) -> dict:
        return dict(self.usage)

    def _render(self, req: TeacherRequest) -> str:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            msgs = [{"role": "user", "content": req.prompt()}]
            return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return req.prompt() + "\n"

    def complete(self, requests: Sequence[TeacherRequest]) -> list[str]:
        """Replies in request order, generated ``batch_size`` at a time."""
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
            out.extend(tok.batch_decode(new, skip_special_tokens=True))
            self.usage["requests"] += len(chunk)
            self.usage["prompt_tokens"] += int(enc["attention_mask"].sum())
            self.usage["completion_tokens"] += int((new != tok.pad_token_id).sum())
        return out
