"""Read models of the legal service, updated inline in the appending transaction (read-your-writes).

Each is deterministic from this service's own events, so ``harbour rebuild`` gives the same rows.
"""

from __future__ import annotations

import json
from typing import Any

from harbour.events import EVENT_TYPES, DomainEvent
from harbour.projection import Projection
from harbour.store.envelope import RecordedEvent
from schemas.intake import MinorKind
from schemas.legal import (
    DocumentIssued,
    DocumentRefused,
    DocumentRenewed,
    LegalCaseRegistered,
    MinorityRecorded,
    ProsecutorialFileAssigned,
    ReflectionPeriodExtended,
    ReflectionPeriodStarted,
    ResidenceDocument,
)
from services.legal.residence import ResidenceProcedure


async def _stream_until(conn: Any, event: RecordedEvent) -> list[DomainEvent]:
    """The stream up to and including ``event``: during a rebuild the later events must not be seen yet."""
    rows = await conn.fetch(
        """SELECT event_type, schema_version, payload::text AS payload FROM events
           WHERE stream_id = $1 AND stream_version <= $2 ORDER BY stream_version""",
        event.stream_id,
        event.stream_version,
    )
    return [EVENT_TYPES.decode(r["event_type"], r["schema_version"], json.loads(r["payload"])) for r in rows]


class LegalCases(Projection):
    """Who may see a case: its centre, and the office its criminal file is assigned to."""

    name = "legal_cases"
    tables = ("legal_cases",)

    async def on_LegalCaseRegistered(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, LegalCaseRegistered)
        await conn.execute(
            """INSERT INTO legal_cases (case_id, centre, unaccompanied_minor, eu_citizen, opened_on)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (case_id) DO UPDATE SET centre = EXCLUDED.centre,
                   unaccompanied_minor = EXCLUDED.unaccompanied_minor, eu_citizen = EXCLUDED.eu_citizen,
                   opened_on = EXCLUDED.opened_on""",
            event.case_id, event.centre, event.unaccompanied_minor, event.eu_citizen, event.opened_on,
        )  # fmt: skip

    async def on_ProsecutorialFileAssigned(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, ProsecutorialFileAssigned)
        # A reassignment moves competence: the previous office no longer reads the file.
        await conn.execute(
            "UPDATE legal_cases SET office = $2, file_number = $3 WHERE case_id = $1",
            event.case_id, event.office, event.file_number,
        )  # fmt: skip

    async def on_MinorityRecorded(self, conn: Any, recorded: RecordedEvent) -> None:
        # Minority is a case fact that changes after admission: the case row shows the latest (its status reads it).
        event = recorded.event
        assert isinstance(event, MinorityRecorded)
        await conn.execute("UPDATE legal_cases SET unaccompanied_minor = $2 WHERE case_id = $1",
                           event.case_id, event.minor is MinorKind.UNACCOMPANIED)  # fmt: skip


class ResidenceStatusView(Projection):
    """One row per residence procedure: replays the aggregate itself, so the view can never disagree with the
    rules it reports on (streams are a few dozen events; a replay per event is cheap)."""

    name = "legal_residence_status"
    tables = ("legal_residence_status",)

    async def handle(self, conn: Any, event: RecordedEvent) -> None:
        if event.stream_type != ResidenceProcedure.stream_type:
            return
        events = await _stream_until(conn, event)
        residence = ResidenceProcedure(event.case_id)
        residence.replay(events)
        refusal = next((e for e in reversed(events) if isinstance(e, DocumentRefused)), None)
        current, request, ended = residence.current, residence.open_request, residence.ended
        await conn.execute(
            """INSERT INTO legal_residence_status (case_id, version, opened_on, unaccompanied_minor, eu_citizen,
                   document, decided_on, starts_on, ends_on, renewals, request_document, request_renewal,
                   requested_on, request_opinion, request_opinion_on, last_refusal, expired_on, reminders_sent,
                   hearing_warnings, ended_on, ending_reason)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16::text::jsonb,$17,$18,$19,$20,$21)
               ON CONFLICT (case_id) DO UPDATE SET (version, opened_on, unaccompanied_minor, eu_citizen, document,
                   decided_on, starts_on, ends_on, renewals, request_document, request_renewal, requested_on,
                   request_opinion, request_opinion_on, last_refusal, expired_on, reminders_sent, hearing_warnings,
                   ended_on, ending_reason)
                 = (EXCLUDED.version, EXCLUDED.opened_on, EXCLUDED.unaccompanied_minor, EXCLUDED.eu_citizen,
                    EXCLUDED.document, EXCLUDED.decided_on, EXCLUDED.starts_on, EXCLUDED.ends_on, EXCLUDED.renewals,
                    EXCLUDED.request_document, EXCLUDED.request_renewal, EXCLUDED.requested_on,
                    EXCLUDED.request_opinion, EXCLUDED.request_opinion_on, EXCLUDED.last_refusal,
                    EXCLUDED.expired_on, EXCLUDED.reminders_sent, EXCLUDED.hearing_warnings, EXCLUDED.ended_on,
                    EXCLUDED.ending_reason)""",
            event.case_id, event.stream_version, residence.opened_on, residence.unaccompanied_minor,
            residence.eu_citizen,
            current.document.value if current else None, current.decided_on if current else None,
            current.starts_on if current else None, current.ends_on if current else None,
            current.renewals if current else 0,
            request.document.value if request else None, request.renewal if request else None,
            request.requested_on if request else None,
            request.magistrate_opinion.value if request and request.magistrate_opinion else None,
            request.magistrate_opinion_on if request else None,
            None if refusal is None else json.dumps(refusal.model_dump(mode="json", exclude={"case_id"})),
            current.ends_on if current and residence.current_expired else None,
            residence.reminders_given, residence.hearing_warnings,
            ended.ended_on if ended else None, ended.reason.value if ended else None,
        )  # fmt: skip


class ProceedingsSummary(Projection):
    """The criminal file in one JSON document per case, in the order things happened."""

    name = "legal_proceedings"
    tables = ("legal_proceedings",)

    LISTS = {
        "StatementMade": "statements",
        "MagistrateOpinionRequested": "opinion_requests",
        "MagistrateOpinionGiven": "opinions",
        "InvestigationStageReached": "stages",
        "HearingScheduled": "hearings",
        "ProsecutorRequisitionsFiled": "requisitions",
        "VerdictDelivered": "verdicts",
        "AppealLodged": "appeals",
        "CompensationAwarded": "compensation",
    }

    async def handle(self, conn: Any, event: RecordedEvent) -> None:
        if event.stream_type != "proceedings":
            return
        raw = await conn.fetchval("SELECT summary::text FROM legal_proceedings WHERE case_id = $1", event.case_id)
        summary: dict[str, Any] = json.loads(raw) if raw else empty_summary()
        fold_summary(summary, event.event)
        await conn.execute(
            """INSERT INTO legal_proceedings (case_id, version, summary) VALUES ($1, $2, $3::text::jsonb)
               ON CONFLICT (case_id) DO UPDATE SET version = EXCLUDED.version, summary = EXCLUDED.summary""",
            event.case_id, event.stream_version, json.dumps(summary),
        )  # fmt: skip


class Deadlines(Projection):
    """Dated deadlines per case, for a centre's list: the last valid day of the document in force, hearings."""

    name = "legal_deadlines"
    tables = ("legal_deadlines",)

    async def _document(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, ReflectionPeriodStarted | DocumentIssued | DocumentRenewed)
        if event.ends_on is None:  # the B-card is unlimited: nothing left to act on
            await conn.execute("DELETE FROM legal_deadlines WHERE case_id = $1 AND slot = 'document'", event.case_id)
            return
        kind = "reflection-period-end" if event.document is ResidenceDocument.ANNEX_15 else "document-expiry"
        await conn.execute(
            """INSERT INTO legal_deadlines (case_id, slot, kind, due_on, document) VALUES ($1, 'document', $2, $3, $4)
               ON CONFLICT (case_id, slot) DO UPDATE SET kind = EXCLUDED.kind, due_on = EXCLUDED.due_on,
                   document = EXCLUDED.document""",
            event.case_id, kind, event.ends_on, event.document.value,
        )  # fmt: skip

    on_ReflectionPeriodStarted = _document
    on_DocumentIssued = _document
    on_DocumentRenewed = _document

    async def on_ReflectionPeriodExtended(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, ReflectionPeriodExtended)
        await conn.execute(
            """UPDATE legal_deadlines SET due_on = $2 WHERE case_id = $1 AND slot = 'document' AND document = $3""",
            event.case_id, event.ends_on, event.document.value,
        )  # fmt: skip

    async def on_ResidenceStatusEnded(self, conn: Any, recorded: RecordedEvent) -> None:
        await conn.execute("DELETE FROM legal_deadlines WHERE case_id = $1 AND slot = 'document'", recorded.case_id)

    async def on_HearingScheduled(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        await conn.execute(
            """INSERT INTO legal_deadlines (case_id, slot, kind, due_on, court) VALUES ($1, $2, 'hearing', $3, $4)
               ON CONFLICT (case_id, slot) DO NOTHING""",
            recorded.case_id, f"hearing-{event.hearing_no}", event.hearing_on, event.court,  # type: ignore[attr-defined]
        )  # fmt: skip


class StayHistory(Projection):
    """Every validity period of a residence file, with the last day each covered (legal_stay_periods): the
    history "valid stay on day D?" is answered from. Replays the aggregate, like the status view, so the
    periods are exactly the ones the rules compute."""

    name = "legal_stay_periods"
    tables = ("legal_stay_periods",)
    CHANGES = frozenset({"ReflectionPeriodStarted", "DocumentIssued", "DocumentRenewed", "ReflectionPeriodExtended"})

    async def handle(self, conn: Any, event: RecordedEvent) -> None:
        if event.stream_type != ResidenceProcedure.stream_type or event.event_type not in self.CHANGES:
            return
        residence = ResidenceProcedure(event.case_id)
        residence.replay(await _stream_until(conn, event))
        await conn.execute("DELETE FROM legal_stay_periods WHERE case_id = $1", event.case_id)
        await conn.executemany(
            """INSERT INTO legal_stay_periods (case_id, seq, document, decided_on, starts_on, ends_on,
                   renewal_number, until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            [(event.case_id, seq, p.document.value, p.decided_on, p.starts_on, p.ends_on, p.renewal_number, p.until)
             for seq, p in enumerate(residence.history(), start=1)],
        )  # fmt: skip


PROJECTIONS: tuple[Projection, ...] = (LegalCases(), ResidenceStatusView(), ProceedingsSummary(), Deadlines(),
                                       StayHistory())  # fmt: skip


def empty_summary() -> dict[str, Any]:
    return {"office": None, "file_number": None, "civil_party_on": None, "concluded": None}


def fold_summary(summary: dict[str, Any], event: DomainEvent) -> None:
    """One proceedings event into the summary: the read model and a former holder's view as at its hand-over
    (api/queries.summary_of) fold the same way, so the two can never drift apart."""
    fields = {k: v for k, v in event.model_dump(mode="json").items() if k != "case_id"}
    match event.event_type:
        case "ProsecutorialFileAssigned":
            summary["office"], summary["file_number"] = fields["office"], fields["file_number"]
        case "CivilPartyJoined":
            summary["civil_party_on"] = fields["joined_on"]
        case "ProceedingsConcluded":
            summary["concluded"] = fields
        case kind if kind in ProceedingsSummary.LISTS:
            summary.setdefault(ProceedingsSummary.LISTS[kind], []).append(fields)
