"""Make groundingdino-py 0.4.0 run with transformers 5.

Its BERT wrapper copies three helpers from ``BertModel`` - ``get_extended_attention_mask``,
``invert_attention_mask`` and ``get_head_mask`` - which transformers 5 removed, so building the model raises
AttributeError. This module puts back small equivalents of the transformers 4.x helpers on ``BertModel``,
only when they are missing. The wrapper also calls ``BertEmbeddings`` with ``past_key_values_length``, which
transformers 5.24 renamed ``cache_length``; the embeddings then take the old name too.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def _extend(mask, dtype):
    import torch

    if mask.dim() == 3:
        extended = mask[:, None, :, :]
    elif mask.dim() == 2:
        extended = mask[:, None, None, :]
    else:
        raise ValueError(f"attention mask of shape {tuple(mask.shape)}: expected 2 or 3 dimensions")
    extended = extended.to(dtype=dtype)
    return (1.0 - extended) * torch.finfo(dtype).min


def get_extended_attention_mask(self, attention_mask, input_shape=None, device=None, dtype=None):
    """Broadcastable additive mask (0 keep, dtype-min drop) from a 2D or 3D 0/1 mask (encoder models)."""
    return _extend(attention_mask, dtype or self.dtype)


def invert_attention_mask(self, encoder_attention_mask):
    """Additive cross-attention mask from a 0/1 mask."""
    return _extend(encoder_attention_mask, self.dtype)


def get_head_mask(self, head_mask, num_hidden_layers, is_attention_chunked=False):
    """A per-layer head mask list (``[None] * layers`` when no mask is given)."""
    if head_mask is None:
        return [None] * num_hidden_layers
    if head_mask.dim() == 1:
        head_mask = head_mask[None, None, :, None, None].expand(num_hidden_layers, -1, -1, -1, -1)
    elif head_mask.dim() == 2:
        head_mask = head_mask[:, None, :, None, None]
    head_mask = head_mask.to(dtype=self.dtype)
    if is_attention_chunked:
        head_mask = head_mask.unsqueeze(-1)
    return head_mask


def _accept_past_key_values_length() -> bool:
    """Let ``BertEmbeddings.forward`` take ``past_key_values_length`` where it was renamed ``cache_length``."""
    import functools
    import inspect

    from transformers.models.bert.modeling_bert import BertEmbeddings

    params = inspect.signature(BertEmbeddings.forward).parameters
    if "past_key_values_length" in params or "cache_length" not in params:
        return False
    forward = BertEmbeddings.forward

    @functools.wraps(forward)
    def renamed(self, *args, past_key_values_length: int | None = None, **kwargs):
        if past_key_values_length is not None:
            kwargs.setdefault("cache_length", past_key_values_length)
        return forward(self, *args, **kwargs)

    BertEmbeddings.forward = renamed
    return True


def ensure_bert_helpers() -> bool:
    """Add the missing helpers to ``transformers.BertModel``; returns True when something was added."""
    from transformers import BertModel

    added = False
    for name, fn in (("get_extended_attention_mask", get_extended_attention_mask),
                     ("invert_attention_mask", invert_attention_mask), ("get_head_mask", get_head_mask)):
        if not hasattr(BertModel, name):
            setattr(BertModel, name, fn)
            added = True
    added = _accept_past_key_values_length() or added
    if added:
        log.info("restored the BERT helpers and argument names that groundingdino expects on transformers 5")
    return added
