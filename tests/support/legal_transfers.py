"""Transfers for the legal tests: a real tracks upstream publishing TransferRequested / TransferAccepted on
``tracks.events.v1``, consumed by the legal service through its inbox, beside the intake upstream of
tests/support/legal_harness.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import pytest

from harbour.kafka.consumer import HandlerContext
from harbour.store import Actor, CommandContext, RecordedEvent
from harbour_tools.infra import BrokerProcess
from schemas.tracks import Centre, TransferAccepted, TransferReason, TransferRequested
from services.legal.custody import on_transfer_accepted
from tests.support.legal_harness import LegalStage, legal_stage
from tests.support.upstream import Upstream, upstream
from tests.support.waiting import wait_until


@dataclass
class TransferStage:
    legal: LegalStage
    tracks: Upstream
    accepted: dict[str, list[RecordedEvent]] = field(default_factory=dict)

    async def request_transfer(self, case_id: str, from_centre: str, to_centre: str) -> None:
        """Tracks records the request only: legal must not move anything for it."""
        await self.tracks.publish(f"track-{case_id}", case_id, [TransferRequested(
            case_id=case_id, from_centre=Centre(from_centre), to_centre=Centre(to_centre),
            reason=TransferReason.PERSON_RELOCATED, requested_on=self.legal.today)])  # fmt: skip

    async def accept_transfer(self, case_id: str, from_centre: str, to_centre: str) -> RecordedEvent:
        """Tracks accepts; returns once legal applied it (its custody row for the acceptance's version)."""
        (recorded,) = await self.tracks.publish(f"track-{case_id}", case_id, [TransferAccepted(
            case_id=case_id, from_centre=Centre(from_centre), to_centre=Centre(to_centre),
            caseworker_id=f"cw-{to_centre}", accepted_on=self.legal.today)])  # fmt: skip
        self.accepted.setdefault(case_id, []).append(recorded)

        async def applied() -> bool:
            async with self.legal.svc.runtime.pool.acquire() as conn:
                return bool(await conn.fetchval("SELECT 1 FROM case_custody WHERE case_id = $1 AND seq = $2",
                                                case_id, recorded.stream_version))  # fmt: skip

        await wait_until(applied, timeout=60)
        return recorded

    async def apply_again(self, case_id: str) -> None:
        """Every accepted transfer of the case once more, newest first (the oldest last), straight into legal's
        handler in a transaction of its own: below the inbox, so the handler's own idempotence is what holds."""
        runtime = self.legal.svc.runtime
        for recorded in reversed(self.accepted.get(case_id, [])):
            async with runtime.store.transaction() as conn:
                context = CommandContext(actor=Actor.system("legal.transfer-accepted"))
                await on_transfer_accepted(HandlerContext(conn, runtime, context, recorded), recorded)


@asynccontextmanager
async def transfer_stage(pg_server_url: str, bootstrap: str) -> AsyncIterator[TransferStage]:
    async with AsyncExitStack() as stack:
        tracks = await stack.enter_async_context(upstream("tracks", pg_server_url=pg_server_url, bootstrap=bootstrap))
        legal = await stack.enter_async_context(legal_stage(pg_server_url, bootstrap))
        yield TransferStage(legal, tracks)


@pytest.fixture(scope="module", name="transfer_stage_for_module")
async def shared_transfer_stage(pg_server_url: str, broker: BrokerProcess) -> AsyncIterator[TransferStage]:
    """One legal service with intake and tracks upstreams for all the tests of a module."""
    if not broker.is_running:
        broker.start()
    async with transfer_stage(pg_server_url, broker.bootstrap) as running:
        yield running
