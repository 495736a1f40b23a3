"""Load–decide–save on a track: the HTTP commands (:func:`run`) and the handlers and timers (:func:`save_track`).

Every save of a track goes through :func:`save_track`, so no path can append a track's events without the
review timers they imply (``services.tracks.deadlines``), nor leave stale ones behind to nag about a closed
track. An HTTP command runs under the platform's one policy (``harbour.commands``): one transaction, queued on
the case (the track is the case's one stream), decided again from a fresh read when a handler noted a fact
meanwhile, unless the client pinned ``expected_version`` (409), and recorded with its Idempotency-Key.
Handlers and timers take no queue: the store's version check keeps them out, and a command's race with them is
retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from harbour.auth import Caller
from harbour.commands import check_version, run_command
from harbour.repository import Repository
from harbour.service import ServiceRuntime
from harbour.store import CommandContext, RecordedEvent
from services.tracks.access import check_scope
from services.tracks.deadlines import follow_review_deadlines
from services.tracks.domain import Track

Change = Callable[[Track, Any], Awaitable[None]]


def case_queue(case_id: str) -> str:
    """What commands on a case queue on: its track (the key the queue always had)."""
    return f"track-{case_id}"


async def save_track(repository: Repository, track: Track, context: CommandContext, conn: Any) -> list[RecordedEvent]:
    """Append the track's new events and keep its review timers in step, in the caller's transaction."""
    recorded = await repository.save(track, context, conn=conn)
    await follow_review_deadlines(conn, recorded)
    return recorded


async def run(rt: ServiceRuntime, caller: Caller, case_id: str, action: str, body: BaseModel | None,
              change: Change, answer: Callable[[Track], BaseModel], *,
              personal: Collection[str] = ()) -> Response:  # fmt: skip
    """Load, check, change and save the track in one transaction; ``answer`` is built from the track as saved, in
    that transaction, and recorded there with the command's Idempotency-Key (``personal``: the body's fields
    that count by presence only in its fingerprint)."""
    expected: int | None = getattr(body, "expected_version", None)

    async def work(conn: Any) -> BaseModel:
        track = await rt.repository.load_or_new(Track, case_id, conn=conn)
        check_scope(track, caller, action)
        check_version(track, expected)
        await change(track, conn)
        await save_track(rt.repository, track, rt.command_context(caller), conn)
        return answer(track)

    return await run_command(rt.store.transaction, work, org=caller.org, queue_on=case_queue(case_id),
                             expected_version=expected, body=body, personal=personal)  # fmt: skip
