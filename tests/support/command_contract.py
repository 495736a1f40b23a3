"""The command layer's contract, once, for every service that takes commands: subclass :class:`CommandContract`.

Every HTTP command of the platform runs under one policy (harbour/commands.py): in one transaction, queued
behind the other commands on what they contend for, decided again from a fresh read when another writer won
a race unless the client pinned ``expected_version`` (then 409), and recorded with its Idempotency-Key. A
subclass names one command of its service that can be sent again and again on one target (``prepare`` makes
a fresh target; ``body(i)`` is the i-th command), and a writer that appends to the target's stream outside
the queue, as a handler or a timer does (``write_outside``). The same tests then hold every service to it:

* conflict: a command decided on a stale ``expected_version`` is a 409 problem and records nothing (neither
  an event nor its key); a service whose commands take no version refuses one (``pins_versions = False``);
* queue: a burst of commands on one target all succeed, one after the other: N events, no 409, no 5xx;
* retry: a command without a version that races a writer outside the queue is decided again on what that
  writer committed, and succeeds: nothing lost, nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import REGISTRY

from tests.support.harness import RunningService
from tests.support.waiting import wait_until

HEADER = "Idempotency-Key"


@dataclass
class Target:
    """What the commands act on: the route, the caller, and the stream the command appends to."""

    path: str
    headers: dict[str, str]
    stream_id: str
    facts: dict[str, Any]  # whatever the subclass needs to write outside the queue (ids, an org)


class CommandContract:
    """Not collected itself (no ``Test`` prefix): each service's ``Test...`` subclass runs these tests."""

    burst = 8  # within a pool of 8 connections: every command of the burst holds one while it queues
    status = 200  # the command's status on success
    event_type: str  # what one command records on the target's stream
    written_type: str  # what ``write_outside`` records there
    pins_versions = True  # the commands take ``expected_version`` (housing's take none: the network decides)

    def service(self) -> RunningService:
        raise NotImplementedError

    async def prepare(self) -> Target:
        raise NotImplementedError

    def body(self, target: Target, i: int) -> dict[str, Any]:
        raise NotImplementedError

    async def write_outside(self, conn: Any, target: Target) -> None:
        """Append one ``written_type`` event to the target's stream in ``conn``'s open transaction, taking no
        queue (as a handler or a timer does): load, decide, save through the repository."""
        raise NotImplementedError

    # ---- helpers ---------------------------------------------------------------------------------------------

    async def _send(self, target: Target, body: dict[str, Any], key: str) -> httpx.Response:
        return await self.service().client.post(target.path, json=body, headers={**target.headers, HEADER: key})

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        async with self.service().runtime.pool.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def _version(self, target: Target) -> int:
        return int(await self._fetchval("SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1",
                                        target.stream_id))  # fmt: skip

    async def _count(self, target: Target, event_type: str) -> int:
        return int(await self._fetchval("SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = $2",
                                        target.stream_id, event_type))  # fmt: skip

    async def _keys(self, *keys: str) -> int:
        return int(await self._fetchval("SELECT count(*) FROM idempotent_commands WHERE key = ANY($1::text[])",
                                        list(keys)))  # fmt: skip

    @staticmethod
    def _retries() -> float:
        """Command attempts started again after a lost race, in this process (harbour.unit_of_work)."""
        return sum(sample.value for metric in REGISTRY.collect() for sample in metric.samples
                   if sample.name == "harbour_command_retries_total")  # fmt: skip

    # ---- the promise -----------------------------------------------------------------------------------------

    async def test_a_command_on_a_stale_expected_version_is_a_409_problem_and_records_nothing(self):
        target = await self.prepare()
        seen = await self._version(target)
        if not self.pins_versions:
            # Nothing to be stale about: a version sent anyway is refused, never silently ignored.
            key, before = uuid.uuid4().hex, await self._count(target, self.event_type)
            refused = await self._send(target, {**self.body(target, 0), "expected_version": seen}, key)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert await self._count(target, self.event_type) == before and await self._keys(key) == 0
            return
        first_key, stale_key = uuid.uuid4().hex, uuid.uuid4().hex
        first = await self._send(target, {**self.body(target, 0), "expected_version": seen}, first_key)
        assert first.status_code == self.status, first.text
        before = await self._count(target, self.event_type)
        stale = await self._send(target, {**self.body(target, 1), "expected_version": seen}, stale_key)
        assert stale.status_code == 409, stale.text
        assert stale.headers["content-type"].startswith("application/problem+json")
        assert stale.json()["status"] == 409
        assert await self._count(target, self.event_type) == before == 1
        assert await self._keys(first_key) == 1 and await self._keys(stale_key) == 0

    async def test_a_burst_of_commands_on_one_target_all_succeed_one_after_the_other(self):
        target = await self.prepare()
        before, retried = await self._count(target, self.event_type), self._retries()
        keys = [uuid.uuid4().hex for _ in range(self.burst)]
        answers = await asyncio.gather(*(self._send(target, self.body(target, i), key) for i, key in enumerate(keys)))
        statuses = [a.status_code for a in answers]
        assert statuses.count(409) == 0, [a.text for a in answers]
        assert [s for s in statuses if s >= 500] == [], [a.text for a in answers]
        assert statuses == [self.status] * self.burst, [a.text for a in answers]
        assert await self._count(target, self.event_type) - before == self.burst
        assert await self._keys(*keys) == self.burst  # each recorded with its key
        # Queued, not raced: each decided once, on what the one before committed (retries alone could also get
        # all of them through, one winner per round, and a burst longer than the attempts would not).
        assert self._retries() - retried == 0

    async def test_a_command_racing_a_writer_outside_the_queue_is_decided_again_and_succeeds(self):
        target = await self.prepare()
        mine, theirs = await self._count(target, self.event_type), await self._count(target, self.written_type)
        key = uuid.uuid4().hex
        pool = self.service().runtime.pool
        async with pool.acquire() as writer:
            transaction = writer.transaction()
            await transaction.start()
            try:
                # Appended, not committed: the stream's append lock is held until the commit below.
                await self.write_outside(writer, target)
                writer_pid = writer.get_server_pid()
                command = asyncio.create_task(self._send(target, self.body(target, 0), key))

                async def command_waits() -> bool:
                    # The command has read the stream as it was and now waits for the writer (at its append, or
                    # at a lock it takes before reading): what it decided may be stale once the writer commits.
                    waiting = await self._fetchval(
                        """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                           AND wait_event_type = 'Lock' AND pid <> $1""", writer_pid,
                    )  # fmt: skip
                    assert not command.done(), command.result().text
                    return bool(waiting)

                await wait_until(command_waits, timeout=20)
            except BaseException:
                await transaction.rollback()
                raise
            await transaction.commit()
        answer = await command
        assert answer.status_code == self.status, answer.text  # never a 409: the client pinned nothing
        assert await self._count(target, self.written_type) - theirs == 1 + (self.written_type == self.event_type)
        assert await self._count(target, self.event_type) - mine == 1 + (self.written_type == self.event_type)
        assert await self._keys(key) == 1
        # Decided on what the writer committed: the command's events come after the writer's.
        last_written = await self._fetchval(
            """SELECT max(stream_version) FROM events WHERE stream_id = $1 AND actor_role = 'system'""",
            target.stream_id,
        )  # fmt: skip
        assert last_written is not None and last_written < await self._version(target)
