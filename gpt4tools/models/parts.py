"""Structural views of a causal LM shared by training and decoding."""

from __future__ import annotations

import torch


def split_body_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module] | None:
    """(decoder body, LM head) of a (peft-wrapped) causal LM, or None when it has no such split.

    Callers run the body for hidden states and apply the head only where logits are needed (the
    target positions in training, the last position in decoding).
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        return None  # the head is not a plain projection; use the model's own forward
    get_decoder = getattr(base, "get_decoder", None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    body = get_decoder() if callable(get_decoder) else None
    if body is None or head is None or body is base:
        return None
    return body, head
