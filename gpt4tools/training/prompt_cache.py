"""Frozen-prompt steps: the prompt part of a batch runs without gradients, only the target part backpropagates.

A GPT4Tools sample is a ~750-token prompt and a ~35-token target. In a normal step the backward pass
runs through every prompt position, because the target tokens attend to the prompt's keys and values
and those depend on the LoRA weights too. A frozen-prompt step cuts that path: the prompt positions
run first under ``torch.no_grad`` (with the current LoRA weights, so the forward values and the loss
are exactly those of the normal step) and leave their keys and values in a cache; then the target part
of every sample - from its first position that predicts a target to its end - runs with gradients,
attending to that cache. The LoRA weights then learn from how the target tokens read the prompt, not
from how the prompt positions are written: a truncated gradient, traded for a backward pass over a few
dozen positions per sample instead of hundreds.

Works on both batch layouts: padded samples (``labels`` plus a padding mask) and prompt-shared rows
(``shift_labels`` plus a 4-D mask). Positions keep their true position ids, so the split may reorder
columns freely.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from gpt4tools.prompt import IGNORE_INDEX


@dataclass
class PromptSplit:
    """A batch cut into the part run without gradients (``cached_*``) and the part run with them (``grad_*``).

    ``grad_mask`` is (batch, 1, grad width, cached width + grad width): the keys are the cache followed by the
    grad part itself, as the attention sees them when the grad part runs over the cache.
    """

    cached_ids: torch.Tensor
    cached_positions: torch.Tensor
    cached_mask: torch.Tensor
    grad_ids: torch.Tensor
    grad_positions: torch.Tensor
    grad_mask: torch.Tensor
    grad_targets: torch.Tensor
    grad_weights: torch.Tensor | None = None  # the targets' loss weights, when the batch has them


def _target_weights(batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """The loss weight of the label each position predicts (either layout), or None for an unweighted batch."""
    if "shift_weights" in batch:
        return batch["shift_weights"]
    if "label_weights" not in batch:
        return None
    weights = torch.zeros_like(batch["label_weights"])
    weights[:, :-1] = batch["label_weights"][:, 1:]
    return weights


def _full_layout(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, position ids, boolean 4-D mask, the label each position predicts) of either batch layout."""
    ids = batch["input_ids"]
    n, width = ids.shape
    if "shift_labels" in batch:
        mask = batch["attention_mask"]
        if mask.dim() != 4:
            raise ValueError("prompt-shared rows need their 4-D attention mask")
        return ids, batch["position_ids"], mask.bool(), batch["shift_labels"]
    if "attention_mask" not in batch:
        raise ValueError("frozen-prompt steps need padded batches with an attention mask (not packed rows: "
                         "set batching.packing=false)")
    valid = batch["attention_mask"].bool()
    targets = torch.full_like(batch["labels"], IGNORE_INDEX)
    targets[:, :-1] = batch["labels"][:, 1:]
    causal = torch.ones((width, width), dtype=torch.bool, device=ids.device).tril()
    mask = causal[None] & valid[:, None, :] & valid[:, :, None]
    mask |= torch.eye(width, dtype=torch.bool, device=ids.device)[None]  # padding sees itself only
    positions = batch.get("position_ids")
    if positions is None:
        positions = (valid.long().cumsum(-1) - 1).clamp_min(0)
    return ids, positions, mask[:, None], targets


def split_prompt(batch: dict[str, torch.Tensor], pad_token_id: int = 0) -> PromptSplit:
    """Cut ``batch`` into its prompt part and its target part (see the module docstring).

    A position joins the target part when it predicts a target or sees a position that does: every
    position of a sample from its first target onward. No prompt position sees the target part, so
    the prompt part can run first.
    """
    ids, positions, mask, targets = _full_layout(batch)
    predicts = targets != IGNORE_INDEX
    in_grad = (mask[:, 0] & predicts[:, None, :]).any(-1) | predicts
    n = ids.shape[0]
    cached_cols = [torch.nonzero(~in_grad[r]).flatten() for r in range(n)]
    grad_cols = [torch.nonzero(in_grad[r]).flatten() for r in range(n)]
    w1 = max(max(len(c) for c in cached_cols), 1)
    w2 = max(max(len(c) for c in grad_cols), 1)
    # Slots of the new layout: the prompt part in [0, w1), the target part in [w1, w1 + w2); unused slots
    # are padding that sees itself only and that nothing sees.
    index = torch.zeros((n, w1 + w2), dtype=torch.long, device=ids.device)
    used = torch.zeros((n, w1 + w2), dtype=torch.bool, device=ids.device)
    for r in range(n):
        index[r, : len(cached_cols[r])] = cached_cols[r]
        used[r, : len(cached_cols[r])] = True
        index[r, w1 : w1 + len(grad_cols[r])] = grad_cols[r]
        used[r, w1 : w1 + len(grad_cols[r])] = True
    rows = torch.arange(n, device=ids.device)[:, None]
    new_ids = torch.where(used, ids[rows, index], torch.full_like(index, pad_token_id))
    new_pos = torch.where(used, positions[rows, index], torch.zeros_like(index))
    new_targets = torch.where(used, targets[rows, index], torch.full_like(index, IGNORE_INDEX))
    weights = _target_weights(batch)
    new_weights = None if weights is None else torch.where(used, weights[rows, index], torch.zeros_like(weights[rows, index]))
    square = mask[:, 0][rows[:, :, None], index[:, :, None], index[:, None, :]]
    square &= used[:, :, None] & used[:, None, :]
    square |= torch.eye(w1 + w2, dtype=torch.bool, device=ids.device)[None]
    return PromptSplit(cached_ids=new_ids[:, :w1], cached_positions=new_pos[:, :w1],
                       cached_mask=square[:, None, :w1, :w1].contiguous(), grad_ids=new_ids[:, w1:],
                       grad_positions=new_pos[:, w1:], grad_mask=square[:, None, w1:, :].contiguous(),
                       grad_targets=new_targets[:, w1:],
                       grad_weights=None if new_weights is None else new_weights[:, w1:])


@functools.cache
def _eager_update_cache_class() -> type:
    from transformers import DynamicCache

    class EagerUpdateCache(DynamicCache):
        @torch.compiler.disable
        def update(self, *args: Any, **kwargs: Any) -> Any:
            return super().update(*args, **kwargs)

    return EagerUpdateCache


def prompt_cache() -> Any:
    """An empty key/value cache for a frozen-prompt step that compiled decoder layers can share.

    The cache's ``update`` runs eagerly: it indexes its per-layer storage by the layer's number, which a
    compiled layer would otherwise take as a constant and recompile for, once per layer. Left out of the
    graph, the same compiled layer serves every layer, as it does in a normal step. (One class for every
    step: compiled graphs guard on the cache's type.)
    """
    return _eager_update_cache_class()()


def layer_numbers_unspecialized() -> Any:
    """A context in which compiled layers take integer module attributes (the layer's number) as inputs.

    A layer passes its number to the cache; as a constant it would make each layer a graph of its own.
    """
    return torch._dynamo.config.patch(allow_unspec_int_on_nn_module=True)
