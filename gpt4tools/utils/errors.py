"""The project's named errors and how the command-line entry points report them.

A *named error* is one the project raises on purpose, with a message that says what is wrong, where (the config
key, the file, the item) and how to fix it. Every entry point (``train.py``, ``evaluate.py``, ``infer.py``,
``python -m gpt4tools.data``, ``python -m gpt4tools.tools``, ``python -m gpt4tools.training.merge``) wraps its
main function in :func:`cli_errors`: a named error is printed as one line on stderr and the process exits with
:data:`EXIT_CODE`; any other exception (a bug) keeps its traceback. ``GPT4TOOLS_DEBUG=1`` (or Hydra's
``HYDRA_FULL_ERROR=1``) shows the full traceback of named errors too.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

DEBUG_ENV = "GPT4TOOLS_DEBUG"
"""Set to 1 to see the traceback of named errors (``HYDRA_FULL_ERROR=1`` does the same)."""

EXIT_CODE = 2
"""The exit status of an entry point stopped by a named error (bugs keep Python's / Hydra's status 1)."""

F = TypeVar("F", bound=Callable[..., Any])


class Gpt4ToolsError(Exception):
    """Base of the project's named errors: the message says what is wrong, where, and how to fix it."""


class ConfigError(Gpt4ToolsError, ValueError):
    """A config value that cannot work; the message names the key, the value and what it takes."""


def named_error(err: BaseException) -> BaseException | None:
    """``err`` when it is a named error; the named error a Hydra ``instantiate`` wrapped (its cause); else None."""
    seen = 0
    while err is not None and seen < 5:
        if isinstance(err, Gpt4ToolsError):
            return err
        if type(err).__name__ != "InstantiationException":
            return None
        err, seen = err.__cause__, seen + 1
    return None


def one_line(err: BaseException) -> str:
    """``ErrorName: message`` on a single line (line breaks and runs of spaces in the message collapsed)."""
    message = " ".join(str(err).split())
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def debug_enabled() -> bool:
    """Whether named errors should show their traceback (``GPT4TOOLS_DEBUG`` or ``HYDRA_FULL_ERROR`` set)."""
    return any(os.environ.get(var, "").strip().lower() not in ("", "0", "false", "no")
               for var in (DEBUG_ENV, "HYDRA_FULL_ERROR"))


def report(err: BaseException) -> str:
    """Write ``err`` as one line on stderr (and into the run's log files, when logging writes any); returns it."""
    line = "error: " + one_line(err)
    for handler in logging.getLogger().handlers:  # the run's log file (Hydra's <run>/<task>.log) keeps it too
        if isinstance(handler, logging.FileHandler):
            handler.handle(logging.LogRecord("gpt4tools", logging.ERROR, __file__, 0, one_line(err), None, None))
    sys.stdout.flush()
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    return line


def cli_errors(main: F) -> F:
    """Decorate an entry point's main function (under ``@hydra.main``, or a plain ``main(argv)``): a named error
    becomes one line on stderr and ``SystemExit(EXIT_CODE)``; other exceptions propagate unchanged.

    Example::

        @hydra.main(version_base="1.3", config_path="conf", config_name="train")
        @cli_errors
        def main(cfg: DictConfig) -> None: ...
    """
    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - only named errors are handled; the rest is re-raised
            named = named_error(err)
            if named is None or debug_enabled():
                raise
            report(named)
            raise SystemExit(EXIT_CODE) from None

    return wrapper  # type: ignore[return-value]
