"""Regional compilation of the train step: ``torch.compile`` on each decoder layer.

A decoder stack repeats one block, so compiling the block (not the whole model) gives one graph that
every layer reuses: the first step pays the compile once (about 40 s on two CPU cores, then
cached on disk by the compiler), and each later step runs fused kernels for what eager mode spends
on separate passes over memory (norms, rotary embeddings, LoRA's scaled sums, casts under autocast).
The attention kernel and the matrix products stay what they were, so the loss is the same up to
floating-point rounding. Shapes are compiled as dynamic: batches of new lengths reuse the graph.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from gpt4tools.utils.errors import Gpt4ToolsError
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


class CompileError(Gpt4ToolsError, RuntimeError):
    """``training.compile`` was asked for but the model has no decoder layers to compile."""


def decoder_layers(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The repeated blocks of ``model`` (a transformers model, possibly inside peft wrappers).

    They are the modules whose class a transformers model names in ``_no_split_modules``, the list it
    keeps of the blocks that must not be split across devices.
    """
    names: set[str] = set()
    for module in model.modules():
        names.update(getattr(module, "_no_split_modules", None) or ())
    for module in model.modules():
        if type(module).__name__ in names:
            yield module


def compile_decoder_layers(model: torch.nn.Module, dynamic: bool = True) -> int:
    """``torch.compile`` every decoder layer of ``model`` in place; returns how many were compiled.

    Raises:
        CompileError: ``model`` has no decoder layers that transformers names (nothing would be compiled,
            and a run asked to compile should not pass for one that did).
    """
    layers = list(decoder_layers(model))
    if not layers:
        raise CompileError(f"training.compile: {type(model).__name__} names no decoder layer class "
                           "(_no_split_modules); set training.compile=false")
    for layer in layers:
        layer.compile(dynamic=dynamic)
    log.info("training.compile: %d %s layers compiled (dynamic shapes: %s); the first step compiles them",
             len(layers), type(layers[0]).__name__, dynamic)
    return len(layers)
