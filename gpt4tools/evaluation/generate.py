"""Generate the missing predictions of eval items and persist them batch by batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from gpt4tools.evaluation.items import EvalItem
from gpt4tools.evaluation.predictions import PredictionWriter

log = logging.getLogger(__name__)


def generate_predictions(generator: Any, items: Sequence[EvalItem], writer: PredictionWriter,
                         progress: bool = True) -> int:
    """Generate for every item not yet in ``writer`` and append the results as each batch ends.

    ``generator`` is a :class:`gpt4tools.inference.Generator` or an
    :class:`~gpt4tools.evaluation.endpoint.EndpointGenerator` (anything with ``iter_generate``).
    Returns the number of items generated now (0 when everything was already done).
    """
    todo = [it for it in items if (it.set, it.id) not in writer.done]
    if len(todo) < len(items):
        log.info("%d of %d items already predicted; generating %d", len(items) - len(todo), len(items), len(todo))
    if not todo:
        return 0
    bar = tqdm(total=len(todo), desc="generate", unit="item", disable=not progress)
    for idx, texts in generator.iter_generate([it.instruction for it in todo], [it.input for it in todo]):
        writer.write({"id": todo[i].id, "set": todo[i].set, "response": text} for i, text in zip(idx, texts))
        bar.update(len(idx))
    bar.close()
    return len(todo)
