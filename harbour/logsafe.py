"""Logs carry exception types and locations, never exception texts or tracebacks' values.

An exception's text can hold what a request or a message carried (a name in a validation message, a value in
a failing statement), and a formatted traceback prints it. Every place that logs an exception does it through
the ``logging`` module: uvicorn's error logger ("Exception in ASGI application", which Starlette's
ServerErrorMiddleware re-raises to after answering 500), FastStream's subscriber logger, asyncio's "Task
exception was never retrieved", the relay's and timers' warnings, the CLI. So the scrubbing happens where every
record is made: a log record factory (``install()``, called by every service's runtime and by ``harbour up``)
that, for a record with an exception (or with exceptions among its arguments):

- replaces ``str(exc)`` and ``repr(exc)`` of the exception and of everything it was caused by wherever they
  appear in the message (FastStream and asyncio write them into the message itself) by ``<TypeName>``;
- drops ``exc_info`` (so no handler formats a traceback) and appends instead the exception types with the
  places they were raised and passed through: ``[ValueError at services/intake/api.py:88 in submit <- ...]``.
"""

from __future__ import annotations

import logging
import os
import traceback
from types import TracebackType
from typing import Any

_installed = False
MAX_FRAMES = 8  # the innermost ones: where it was raised, and what called that


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            seen.extend(e for e in current.exceptions if all(e is not s for s in seen))
        current = current.__cause__ or current.__context__
    return seen


def _where(tb: TracebackType | None) -> str:
    frames = traceback.extract_tb(tb)[-MAX_FRAMES:]
    root = os.getcwd() + os.sep
    places = [f"{f.filename.removeprefix(root)}:{f.lineno} in {f.name}" for f in reversed(frames)]
    return " <- ".join(places) if places else "unknown place"


def describe(exc: BaseException) -> str:
    """``TypeName at file:line in function <- ...`` for the exception and each one it was caused by."""
    return "; caused by ".join(f"{type(e).__name__} at {_where(e.__traceback__)}" for e in _chain(exc))


def scrub(text: str, exceptions: list[BaseException]) -> str:
    for exc in exceptions:
        for form in sorted({repr(exc), str(exc)}, key=len, reverse=True):
            if form and form != type(exc).__name__:
                text = text.replace(form, f"<{type(exc).__name__}>")
    return text


def _safe_record(record: logging.LogRecord) -> logging.LogRecord:
    exc_info = record.exc_info
    exc = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
    in_args = [a for a in (record.args if isinstance(record.args, tuple) else ()) if isinstance(a, BaseException)]
    if exc is None and not in_args:
        return record
    exceptions = [e for root in ([exc] if exc is not None else []) + in_args for e in _chain(root)]
    try:
        message = record.getMessage()
    except Exception:
        message = str(record.msg)
    message = scrub(message, exceptions)
    if exc is not None:
        message = f"{message} [{describe(exc)}]"
    record.msg, record.args = message, ()
    record.exc_info, record.exc_text = None, None
    return record


def install() -> None:
    """Make every log record of this process safe (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _safe_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True
