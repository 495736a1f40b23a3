"""Tracebacks and error logs carry no request values: an unexpected error whose text holds a person's name is
logged with its type and the places it went through, and the name is in no log record and no output."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging

import httpx
from fastapi import APIRouter

from services.intake.app import DEFINITION as INTAKE
from tests.integration.test_feeds_helpers import served
from tests.support.harness import running_service

MARKER = "Ilvaneth Quorrimaa-Zorbalinde"  # a fake name, as a request body would carry it

boom = APIRouter()


@boom.get("/boom")
async def explode() -> None:
    # An unexpected error whose text holds a value from the request: Starlette answers 500 and re-raises it to
    # uvicorn, whose error logger prints the traceback ("Exception in ASGI application").
    raise ValueError(f"no shelter matches {MARKER!r}")


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.texts.append(self.format(record))  # with its traceback, if it still had one


async def test_an_unexpected_error_with_a_name_in_its_text_leaves_the_name_in_no_log(
    pg_server_url, running_broker, capfd
):
    capture = Everything()
    # uvicorn's loggers do not propagate to the root: listen on them too.
    loggers = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.error", "asyncio", "faststream")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)
    try:
        definition = dataclasses.replace(INTAKE, routers=[*INTAKE.routers, boom])
        async with running_service(definition, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as s:
            async with served(s.app) as url, httpx.AsyncClient(base_url=url) as client:
                response = await client.get("/boom")
            assert response.status_code == 500 and MARKER not in response.text

            # asyncio: a task's exception nobody retrieved is logged when the task is collected.
            async def background() -> None:
                raise KeyError(MARKER)

            task = asyncio.create_task(background())
            await asyncio.wait([task])
            del task
            gc.collect()

            # FastStream's way: the exception's text in the message itself, and the exception attached.
            try:
                raise RuntimeError(f"handler failed on {MARKER}")
            except RuntimeError as exc:
                logging.getLogger("faststream.access.kafka").error(f"{exc!r}", exc_info=exc)
                logging.getLogger("harbour.kafka.relay").warning("relay paused: %s", exc)
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(capture)
            lg.setLevel(level)
    out, err = capfd.readouterr()

    # Each error reached the logs, by type (else this test would prove nothing) ...
    logged = "\n".join(capture.texts)
    for name in ("ValueError", "KeyError", "RuntimeError"):
        assert name in logged, logged
    assert "tests/integration/test_logs_no_values.py" in logged  # ... with where it was raised ...
    # ... and the name is nowhere: not in a message, a traceback, an argument, or anything printed.
    assert all(MARKER not in t for t in capture.texts), [t for t in capture.texts if MARKER in t]
    assert all(r.exc_info is None and not any(isinstance(a, BaseException) for a in (r.args or ()))
               for r in capture.records)  # fmt: skip
    assert MARKER not in out and MARKER not in err
