"""Rank-zero aware logging: only the first process of a distributed job logs at INFO."""

from __future__ import annotations

import logging
import os


def rank() -> int:
    """Global rank of this process (0 when not distributed)."""
    for var in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


class _RankZeroFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return rank() == 0 or record.levelno >= logging.WARNING


def get_logger(name: str) -> logging.Logger:
    """A logger that prints INFO and below on rank zero only (warnings and errors on every rank)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _RankZeroFilter) for f in logger.filters):
        logger.addFilter(_RankZeroFilter())
    return logger
