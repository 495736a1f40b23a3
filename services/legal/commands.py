"""Load–decide–save on a case's legal file: one unit of work, and the timers kept in step, in one transaction.

Used alike by the HTTP API, the Kafka handlers and the timer handlers, so the rules that tie the two streams
together (a dismissal ends the status; a document change re-checks the hearings; timers follow the document in
force) live in exactly one place. An HTTP command runs it under the platform's one policy (``harbour.commands``,
through ``services.legal.api.common.run_on``): one transaction, queued on the case (:func:`case_queue`: both
of its streams, since a dismissal also ends the residence status), decided again from a fresh read when a
handler or timer appended meanwhile unless the client pinned ``expected_version`` (409), and recorded with its
Idempotency-Key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from harbour.commands import check_version
from harbour.errors import NotFound
from harbour.service import ServiceRuntime
from harbour.store import CommandContext, RecordedEvent
from schemas.legal import (
    DocumentIssued,
    DocumentRenewed,
    HearingScheduled,
    ProceedingsConcluded,
    ReflectionPeriodStarted,
    ResidenceStatusEnded,
)
from services.legal.proceedings import CriminalProceedings, ending_for
from services.legal.residence import ResidenceProcedure
from services.legal.timekeeping import hearing_check_day, rules_from, schedule_hearing_check, sync_document_timers

# Events after which the document in force is different: its timers are replaced and the hearings re-checked.
DOCUMENT_CHANGES = (ReflectionPeriodStarted, DocumentIssued, DocumentRenewed)
TIMER_CHANGES = (*DOCUMENT_CHANGES, ResidenceStatusEnded)


def case_queue(case_id: str) -> str:
    """What commands on one case queue on (both of its streams); the hand-over takes it too
    (``services.legal.custody``), so a former holder's command either commits before the hand-over or is judged
    after it, never half-way."""
    return f"legal-case-{case_id}"


@dataclass
class LegalWork:
    runtime: ServiceRuntime
    conn: Any  # the open transaction everything below commits in
    command: CommandContext
    today: date  # Brussels date of the clock: the default date of every fact recorded now
    # Each stream is loaded once per unit of work: the date checks read the same aggregate the command then
    # decides on and saves (a second load would be a second read, and a chance to judge two states).
    _loaded: dict[tuple[str, str], ResidenceProcedure | CriminalProceedings] = field(default_factory=dict)

    async def residence(self, case_id: str, *, expected_version: int | None = None) -> ResidenceProcedure:
        """The case's residence procedure (404 when it was never opened)."""
        residence = await self.residence_or_new(case_id)
        if residence.version == 0:
            raise NotFound("no residence procedure is open for this case")
        return _at(residence, expected_version)

    async def residence_or_new(self, case_id: str) -> ResidenceProcedure:
        key = (ResidenceProcedure.stream_type, case_id)
        if key not in self._loaded:
            residence = await self.runtime.repository.load_or_new(ResidenceProcedure, case_id, conn=self.conn)
            # Rules are settings (reminder days, B-card on requisitions); apply() never reads them, so setting
            # them after the replay is equivalent to constructing with them.
            residence.rules = rules_from(self.runtime.settings)
            self._loaded[key] = residence
        loaded = self._loaded[key]
        assert isinstance(loaded, ResidenceProcedure)
        return loaded

    async def proceedings(self, case_id: str, *, expected_version: int | None = None) -> CriminalProceedings:
        key = (CriminalProceedings.stream_type, case_id)
        if key not in self._loaded:
            self._loaded[key] = await self.runtime.repository.load_or_new(CriminalProceedings, case_id,
                                                                          conn=self.conn)  # fmt: skip
        loaded = self._loaded[key]
        assert isinstance(loaded, CriminalProceedings)
        return _at(loaded, expected_version)

    async def save_residence(self, residence: ResidenceProcedure) -> list[RecordedEvent]:
        pending = residence.pending()
        if any(isinstance(e, DOCUMENT_CHANGES) for e in pending):
            await self._recheck_hearings(residence)
        recorded = await self.runtime.repository.save(residence, self.command, conn=self.conn)
        if any(isinstance(e, TIMER_CHANGES) for e in pending):
            await sync_document_timers(self.conn, residence)
        return recorded

    async def save_proceedings(self, proceedings: CriminalProceedings) -> list[RecordedEvent]:
        """Save, then apply what the new facts imply for the residence procedure; returns every event recorded."""
        pending = proceedings.pending()
        recorded = await self.runtime.repository.save(proceedings, self.command, conn=self.conn)
        for event in pending:
            reason = ending_for(event)
            if reason is not None and isinstance(event, ProceedingsConcluded):
                # A dismissal closes the judicial procedure and with it the victim status (DOMAIN §2), in the
                # same transaction: there is never a moment where one is recorded without the other.
                residence = await self.residence_or_new(proceedings.id)
                if residence.version > 0 and residence.ended is None:
                    on = max(event.concluded_on, residence.opened_on or event.concluded_on)
                    residence.end(reason=reason, on=on)
                    recorded = [*recorded, *await self.save_residence(residence)]
            if isinstance(event, HearingScheduled):
                await schedule_hearing_check(self.conn, event, self.runtime.settings)
        return recorded

    async def _recheck_hearings(self, residence: ResidenceProcedure) -> None:
        """Hearings whose stay check is already due are checked again against the new document at once."""
        proceedings = await self.proceedings(residence.id)
        for hearing in proceedings.hearings:
            if hearing_check_day(hearing.hearing_on, self.runtime.settings) <= self.today <= hearing.hearing_on:
                residence.warn_for_hearing(hearing_on=hearing.hearing_on, court=hearing.court, on=self.today)


A = TypeVar("A", ResidenceProcedure, CriminalProceedings)


def _at(aggregate: A, expected_version: int | None) -> A:
    # The client decided on a view of the file that is no longer current: a 409 before any rule is weighed
    # (the rules would judge a state the client never saw). The append's version check stays the backstop.
    check_version(aggregate, expected_version)
    return aggregate
