"""Learning-rate schedules with warm-up, built from config (``scheduler._target_``)."""

from __future__ import annotations

import torch

from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)

SCHEDULES = ("cosine", "linear", "constant_with_warmup", "constant")


def warmup_schedule(optimizer: torch.optim.Optimizer, num_training_steps: int, name: str = "cosine",
                    warmup_ratio: float = 0.0, warmup_steps: int | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """A transformers schedule (``name``) over ``num_training_steps`` optimizer steps, warming up for
    ``warmup_steps`` steps or, when that is None, for ``warmup_ratio`` of them.

    Raises:
        ValueError: an unknown ``name``.
    """
    from transformers import get_scheduler

    if name not in SCHEDULES:
        raise ValueError(f"scheduler.name={name!r}: choose one of {', '.join(SCHEDULES)}")
    total = max(int(num_training_steps), 1)
    warmup = int(warmup_steps) if warmup_steps is not None else int(round(float(warmup_ratio) * total))
    log.info("scheduler %s: %d optimizer steps, %d warm-up", name, total, warmup)
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total)
