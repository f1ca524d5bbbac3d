"""A reference-counted pool of loaded models, so tools that use the same sub-model load it once."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger(__name__)


class ModelPool:
    """Loaded objects by key; each ``get`` adds a reference and each ``release`` drops one.

    Keys name the model, its weights and its device (``("sam", "/w/sam.pth", "cuda:0")``) so two tools on
    different devices get two copies and two tools on one device share one.
    """

    def __init__(self) -> None:
        self._items: dict[Hashable, list[Any]] = {}  # key -> [object, refcount]
        self._lock = threading.RLock()

    def get(self, key: Hashable, factory: Callable[[], Any]) -> Any:
        """The object under ``key``, built with ``factory()`` on first use."""
        with self._lock:
            if key not in self._items:
                log.info("loading %s", key[0] if isinstance(key, tuple) else key)
                self._items[key] = [factory(), 0]
            self._items[key][1] += 1
            return self._items[key][0]

    def release(self, key: Hashable) -> None:
        """Drop one reference; the object is freed when none is left."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return
            item[1] -= 1
            if item[1] <= 0:
                del self._items[key]
                del item
                free_memory()

    def refcount(self, key: Hashable) -> int:
        """References held on ``key`` (0 when not loaded)."""
        with self._lock:
            return self._items[key][1] if key in self._items else 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


def free_memory() -> None:
    """Collect garbage and return cached CUDA memory."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


DEFAULT_POOL = ModelPool()
"""The pool tools use unless given another."""
