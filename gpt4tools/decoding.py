"""Continuous-batch greedy decoding: no padding at prefill, ended rows leave, waiting prompts join.

``model.generate`` pads a batch to its longest prompt and keeps decoding every row until the last
one stops. For the short ReAct steps of an evaluation (~35 new tokens after ~700 prompt tokens) both
cost: padding inflates the prefill, and one long answer keeps a whole batch decoding. Here each
prompt is prefilled on its own, the caches are stacked left-padded into one batch that decodes
together, rows leave as they end at EOS, at a stop string or at ``max_new_tokens``, and waiting
prompts take their places.

Greedy only, and only for caches made of plain full-attention layers; :func:`supports_ragged_model`
says whether a model qualifies (sliding-window or recurrent caches go through ``model.generate``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from gpt4tools.constrained import AllowedTokens, mask_disallowed
from gpt4tools.models.parts import split_body_head
from gpt4tools.stops import StopStrings

log = logging.getLogger(__name__)


class _BufferedLayer(DynamicLayer):
    """A full-attention cache layer over preallocated key/value buffers.

    ``DynamicLayer`` concatenates on every step, copying the whole cache each time; writing into
    spare capacity makes a decode step O(new tokens) in cache memory traffic. A batch is built with
    ``max_new_tokens + 1`` spare positions, which no row can outgrow before the next rebuild.
    """

    @classmethod
    def wrap(cls, k_buffer: torch.Tensor, v_buffer: torch.Tensor, length: int) -> _BufferedLayer:
        """A layer over preallocated ``[batch, heads, capacity, dim]`` buffers whose first ``length`` positions are filled."""
        layer = cls()
        layer.dtype, layer.device = k_buffer.dtype, k_buffer.device
        layer.is_initialized = True
        layer._k, layer._v, layer._length = k_buffer, v_buffer, length
        layer.keys, layer.values = k_buffer[..., :length, :], v_buffer[..., :length, :]
        return layer

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        new = key_states.shape[-2]
        self._k[..., self._length:self._length + new, :] = key_states
        self._v[..., self._length:self._length + new, :] = value_states
        self._length += new
        self.keys, self.values = self._k[..., : self._length, :], self._v[..., : self._length, :]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self._length


def supports_ragged(cache: DynamicCache) -> bool:
    """Whether every layer of a prefilled cache is a plain full-attention ``DynamicLayer``."""
    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def _last_logits(model: torch.nn.Module, parts, **inputs) -> tuple[torch.Tensor, DynamicCache]:
    """Logits at the last position and the cache; the head sees a contiguous 2-D input (a strided
    3-D slice makes torch copy the whole vocabulary projection per call)."""
    if parts is None:
        out = model(**inputs, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1], out.past_key_values
    body, head = parts
    out = body(**inputs, use_cache=True)
    return head(out.last_hidden_state[:, -1].contiguous()), out.past_key_values


@dataclass
class _Row:
    """One prompt in flight: its cache slice per layer (until the batch is assembled) and its output."""

    index: int
    length: int                 # valid cache positions (prompt + fed tokens)
    out: list[int] = field(default_factory=list)
    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)


class _Stopper:
    """Appends a new token to a row and says whether the row has ended."""

    def __init__(self, eos_token_ids: Sequence[int], stops: StopStrings, tokenizer, max_new_tokens: int):
        self.eos = {int(t) for t in eos_token_ids}
        self.stops = stops
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens

    def push(self, row: _Row, token: int) -> bool:
        if token in self.eos:
            return True
        row.out.append(token)
        return len(row.out) >= self.max_new_tokens or self.stops.in_tokens(row.out, self.tokenizer)


_MIN_SHARED_PREFIX = 16  # tokens; a shorter shared prefix is prefilled again


def common_prefix_length(a: Sequence[int], b: Sequence[int], limit: int | None = None) -> int:
    """Length of the longest common prefix of two token lists (at most ``limit``)."""
    n = min(len(a), len(b), limit if limit is not None else len(b))
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    return k


def supports_ragged_model(model: torch.nn.Module) -> bool:
    """Whether ``model`` builds a cache of plain full-attention layers (a one-token probe)."""
    probe = torch.tensor([[0]], device=model.device)
    with torch.inference_mode():
        cache = model(input_ids=probe, past_key_values=DynamicCache(config=model.config), use_cache=True,
                      logits_to_keep=1).past_key_values
    return supports_ragged(cache)


@torch.inference_mode()
def iter_ragged_greedy(model: torch.nn.Module, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
                       eos_token_ids: Sequence[int], stops: StopStrings | None = None, tokenizer=None,
                       max_batch: int = 16, allowed_tokens: AllowedTokens | None = None,
                       ) -> Iterator[tuple[int, list[int]]]:
    """Greedy continuations of token-id ``prompts``, yielded as ``(prompt index, new token ids)`` as each ends.

    A continuous batch of up to ``max_batch`` rows decodes together. Prompts are taken in token order
    and each is prefilled alone (no padding), reusing the cache of the prefix it shares with the
    previous prompt. A row ends at any of ``eos_token_ids`` (not included in its output), when its
    decoded tail holds one of ``stops`` (:meth:`StopStrings.in_tokens`; the caller cuts the text) or after
    ``max_new_tokens``. Once a quarter of the batch has ended, the batch is rebuilt without the ended
    rows and refilled with waiting prompts. ``allowed_tokens`` restricts a row's next token where it
    returns ids (:mod:`gpt4tools.constrained`).
    Requires :func:`supports_ragged_model`.
    """
    stops = stops if stops is not None else StopStrings()
    if stops and tokenizer is None:
        raise ValueError("stop strings need the tokenizer")
    device = model.device
    parts = split_body_head(model)
    stopper = _Stopper(eos_token_ids, stops, tokenizer, max_new_tokens)
    # Token-sorted order puts prompts that share a prefix next to each other: each prompt reuses the
    # cached prefix it shares with the previous one (the system text; in an evaluation also the earlier
    # steps of the same chain) and prefills only the rest.
    pending = deque(sorted(range(len(prompts)), key=lambda i: list(prompts[i])))
    previous: tuple[list[int], list[torch.Tensor], list[torch.Tensor]] = ([], [], [])
    threshold = max(1, max_batch // 4)
    spare = max_new_tokens + 1
    active: list[_Row] = []
    alive: list[bool] = []
    layers: list[_BufferedLayer] = []
    mask = tokens = torch.empty(0)
    cur = 0
    while True:
        dead = alive.count(False)
        if dead == len(active) or dead >= threshold or (pending and max_batch - len(active) + dead >= threshold):
            kept = [row for row, a in zip(active, alive) if a]
            for b, row in ((b, row) for b, (row, a) in enumerate(zip(active, alive)) if a):
                row.keys = [layer.keys[b, :, cur - row.length:cur] for layer in layers]
                row.values = [layer.values[b, :, cur - row.length:cur] for layer in layers]
            next_tokens = [int(tokens[b]) for b, a in enumerate(alive) if a]
            while pending and len(kept) < max_batch:
                i = pending.popleft()
                prompt = list(prompts[i])
                reuse = common_prefix_length(previous[0], prompt, limit=len(prompt) - 1)
                cache = DynamicCache(config=model.config)
                if reuse >= _MIN_SHARED_PREFIX:
                    for li, (k, v) in enumerate(zip(previous[1], previous[2])):
                        cache.update(k[None, :, :reuse], v[None, :, :reuse], li)
                else:
                    reuse = 0
                ids = torch.tensor([prompt[reuse:]], dtype=torch.long, device=device)
                logits, cache = _last_logits(model, parts, input_ids=ids, past_key_values=cache)
                row = _Row(i, len(prompt), keys=[layer.keys[0] for layer in cache.layers],
                           values=[layer.values[0] for layer in cache.layers])
                previous = (prompt, row.keys, row.values)
                row_logits = logits[0] if allowed_tokens is None else mask_disallowed(logits[0], allowed_tokens(i, []))
                token = int(row_logits.argmax())
                if stopper.push(row, token):
                    yield i, row.out
                    continue
                kept.append(row)
                next_tokens.append(token)
            if not kept:
                return
            active, alive = kept, [True] * len(kept)
            cur = max(row.length for row in active)
            layers = []
            for li in range(len(active[0].keys)):
                k0, v0 = active[0].keys[li], active[0].values[li]
                k = k0.new_empty((len(active), k0.shape[0], cur + spare, k0.shape[-1]))
                v = v0.new_empty((len(active), v0.shape[0], cur + spare, v0.shape[-1]))
                for b, row in enumerate(active):
                    k[b, :, :cur - row.length] = 0  # masked, but must be finite (0 * inf is nan)
                    v[b, :, :cur - row.length] = 0
                    k[b, :, cur - row.length:cur] = row.keys[li]
                    v[b, :, cur - row.length:cur] = row.values[li]
                layers.append(_BufferedLayer.wrap(k, v, cur))
            mask = torch.zeros((len(active), cur + spare), dtype=torch.long, device=device)
            for b, row in enumerate(active):
                mask[b, cur - row.length:cur] = 1
                row.keys, row.values = [], []
            tokens = torch.tensor(next_tokens, dtype=torch.long, device=device)
        cache = DynamicCache(config=model.config)
        cache.layers = layers
        mask[:, cur] = 1
        cur += 1
        positions = torch.tensor([row.length for row in active], dtype=torch.long, device=device)
        logits, _ = _last_logits(model, parts, input_ids=tokens[:, None], attention_mask=mask[:, :cur],
                                 position_ids=positions[:, None], past_key_values=cache)
        if allowed_tokens is not None:
            for b, row in enumerate(active):
                if alive[b]:
                    logits[b] = mask_disallowed(logits[b], allowed_tokens(row.index, row.out))
        tokens = logits.argmax(-1)
        for b, (row, token) in enumerate(zip(active, tokens.tolist())):
            row.length += 1
            if alive[b] and stopper.push(row, token):
                alive[b] = False
                yield row.index, row.out
