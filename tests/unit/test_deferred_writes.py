"""A rebuild's handlers write through DeferredWrites: runs of one statement go out together, in the order issued."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harbour.projection import DeferredWrites


class Recording:
    """A stand-in connection that records what reaches the server, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        self.sent.append(("execute", query, args))
        return "INSERT 0 1"

    async def executemany(self, query: str, args: Any, *, timeout: float | None = None) -> None:
        self.sent.append(("executemany", query, list(args)))

    async def fetchval(self, query: str, *args: Any) -> int:
        self.sent.append(("fetchval", query, args))
        return 7

    def transaction(self) -> None:
        raise AssertionError("never reached")


async def test_consecutive_statements_of_one_text_are_sent_as_one_batch_and_reads_come_after_them() -> None:
    conn = Recording()
    writes = DeferredWrites(conn)  # type: ignore[arg-type]
    assert await writes.execute("INSERT a", 1) == ""
    await writes.execute("INSERT a", 2)
    await writes.execute("UPDATE b", 3)
    assert conn.sent == [("executemany", "INSERT a", [(1,), (2,)])], "a new text sends the run before it"
    assert await writes.fetchval("SELECT c") == 7
    await writes.execute("TRUNCATE t")  # no arguments: a script, sent at once after the queue
    await writes.execute("INSERT a", 4)
    await writes.flush()
    assert conn.sent[1:] == [("execute", "UPDATE b", (3,)), ("fetchval", "SELECT c", ()),
                             ("execute", "TRUNCATE t", ()), ("execute", "INSERT a", (4,))]  # fmt: skip


def test_a_savepoint_is_refused_rather_than_run_beside_the_queue() -> None:
    with pytest.raises(TypeError, match="transaction"):
        DeferredWrites(Recording()).transaction()  # type: ignore[arg-type]


class Slow(Recording):
    """A connection whose batches take a while at the server, and that refuses an overlapping operation as
    asyncpg does ("another operation is in progress")."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.busy = False
        self.fail = fail

    async def executemany(self, query: str, args: Any, *, timeout: float | None = None) -> None:
        assert not self.busy, "another operation is in progress"
        self.busy = True
        try:
            await asyncio.sleep(0.01)
            if self.fail:
                raise ValueError("duplicate key")
            self.sent.append(("executemany", query, list(args)))
        finally:
            self.busy = False

    async def fetchval(self, query: str, *args: Any) -> int:
        assert not self.busy, "another operation is in progress"
        return await super().fetchval(query, *args)


async def test_what_send_started_finishes_before_anything_else_reaches_the_connection() -> None:
    conn = Slow()
    writes = DeferredWrites(conn)  # type: ignore[arg-type]
    await writes.execute("INSERT a", 1)
    await writes.execute("INSERT a", 2)
    await writes.send()
    assert conn.sent == [], "send() returns before the server has answered"
    await writes.execute("INSERT a", 3)  # queued behind the batch in flight
    assert await writes.fetchval("SELECT c") == 7
    assert conn.sent == [("executemany", "INSERT a", [(1,), (2,)]), ("execute", "INSERT a", (3,)),
                         ("fetchval", "SELECT c", ())]  # fmt: skip


async def test_a_statement_that_failed_in_the_background_raises_at_the_next_settle() -> None:
    writes = DeferredWrites(Slow(fail=True))  # type: ignore[arg-type]
    await writes.execute("INSERT a", 1)
    await writes.execute("INSERT a", 2)
    await writes.send()
    with pytest.raises(ValueError, match="duplicate key"):
        await writes.settle()
