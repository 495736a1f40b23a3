"""Intake's read models, updated inline (in the append's transaction) and rebuildable from position 0.

- ``ReferralStatusView``: each referral's state, which the referrer reads (status only) and the centre works from.
- ``CentreCases``: the centre's list of open cases, paged in the store's order.
- ``LeadList``: the centre's leads (tips from the public), open, taken up or closed.
- ``PersonIdentity``: which centre may read a person, and the person's sealed values with the ids of the events
  that sealed them. Nothing is opened here: values are opened (and the read audited) at read time, so erasing
  the person's key makes these rows unreadable with no projection work at all.

Every handler reads only its event (and rows earlier events wrote), so a rebuild yields the same rows.
"""

from __future__ import annotations

import json
from typing import Any

from harbour.pii import Sealed
from harbour.projection import Projection
from harbour.store import RecordedEvent
from schemas.intake import (
    IDENTITY_FIELDS,
    CaseOpened,
    ConsentGiven,
    ConsentWithdrawn,
    IdentityCaptured,
    IntakeInterviewHeld,
    LeadClosed,
    LeadOpened,
    LeadTakenUp,
    MinorFlagged,
    MinorityDisproved,
    MinorityEstablished,
    PersonErased,
    ReferralAccepted,
    ReferralDeclined,
    ReferralRedirected,
    ReferralScreened,
    ReferralSubmitted,
)


def _json(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json"), separators=(",", ":"))


class ReferralStatusView(Projection):
    name = "intake.referral_status"
    tables = ("referral_status",)

    async def handle(self, conn: Any, event: RecordedEvent) -> None:
        await super().handle(conn, event)
        if event.stream_type == "referral":
            # The version lets a client send expected_version from what it read (409 when stale).
            await conn.execute(
                "UPDATE referral_status SET version = $2 WHERE referral_id = $1",
                event.stream_id.removeprefix("referral-"), event.stream_version,
            )  # fmt: skip

    async def on_ReferralSubmitted(self, conn: Any, event: RecordedEvent) -> None:
        e: ReferralSubmitted = event.event  # type: ignore[assignment]
        await conn.execute(
            """INSERT INTO referral_status (referral_id, version, referring_org, referrer_file_number, target_centre,
                   region, status, submitted_on, referrer_screening, screening, signal_ids, exploitation_types,
                   urgency, person_id)
               VALUES ($1, $2, $3, $4, $5, $6, 'submitted', $7, $8::jsonb, $8::jsonb, $9, $10, $11, $12)""",
            e.referral_id, event.stream_version, e.referring_organisation_id, e.referrer_file_number,
            e.target_centre.value, e.region.value, e.submitted_on, _json(e.screening), list(e.signal_ids),
            [t.value for t in e.exploitation_types], [u.value for u in e.urgency],
            e.circumstances.person_id if e.circumstances else None,
        )  # fmt: skip

    async def on_ReferralScreened(self, conn: Any, event: RecordedEvent) -> None:
        e: ReferralScreened = event.event  # type: ignore[assignment]
        await conn.execute(
            """UPDATE referral_status SET screening = $2::jsonb, screened = true, signal_ids = $3
               WHERE referral_id = $1""",
            e.referral_id, _json(e.screening), list(e.signal_ids),
        )  # fmt: skip

    async def on_ReferralAccepted(self, conn: Any, event: RecordedEvent) -> None:
        e: ReferralAccepted = event.event  # type: ignore[assignment]
        await self._decide(conn, e.referral_id, "accepted", e.accepted_on)

    async def on_ReferralDeclined(self, conn: Any, event: RecordedEvent) -> None:
        e: ReferralDeclined = event.event  # type: ignore[assignment]
        await self._decide(conn, e.referral_id, "declined", e.declined_on, decline_reason=e.reason.value)

    async def on_ReferralRedirected(self, conn: Any, event: RecordedEvent) -> None:
        e: ReferralRedirected = event.event  # type: ignore[assignment]
        await self._decide(conn, e.referral_id, "redirected", e.redirected_on,
                           redirected_to=e.to_centre.value, redirect_reason=e.reason.value)  # fmt: skip

    @staticmethod
    async def _decide(conn: Any, referral_id: str, status: str, on: Any, **reasons: str) -> None:
        await conn.execute(
            """UPDATE referral_status SET status = $2, decided_on = $3, decline_reason = $4, redirected_to = $5,
                   redirect_reason = $6 WHERE referral_id = $1""",
            referral_id, status, on, reasons.get("decline_reason"), reasons.get("redirected_to"),
            reasons.get("redirect_reason"),
        )  # fmt: skip

    async def on_IntakeInterviewHeld(self, conn: Any, event: RecordedEvent) -> None:
        e: IntakeInterviewHeld = event.event  # type: ignore[assignment]
        await conn.execute(
            """UPDATE referral_status SET interviews = interviews + 1,
                   last_interview_on = greatest(last_interview_on, $2) WHERE referral_id = $1""",
            e.referral_id, e.held_on,
        )  # fmt: skip

    async def on_ConsentGiven(self, conn: Any, event: RecordedEvent) -> None:
        e: ConsentGiven = event.event  # type: ignore[assignment]
        await conn.execute(
            """UPDATE referral_status SET consents = ARRAY(SELECT DISTINCT unnest(consents || $2::text) ORDER BY 1)
               WHERE referral_id = $1""",
            e.referral_id, e.scope.value,
        )  # fmt: skip

    async def on_ConsentWithdrawn(self, conn: Any, event: RecordedEvent) -> None:
        e: ConsentWithdrawn = event.event  # type: ignore[assignment]
        await conn.execute(
            "UPDATE referral_status SET consents = array_remove(consents, $2) WHERE referral_id = $1",
            e.referral_id, e.scope.value,
        )  # fmt: skip

    async def on_IdentityCaptured(self, conn: Any, event: RecordedEvent) -> None:
        e: IdentityCaptured = event.event  # type: ignore[assignment]
        await conn.execute(
            "UPDATE referral_status SET person_id = $2 WHERE referral_id = $1", e.referral_id, e.person_id
        )

    async def on_MinorFlagged(self, conn: Any, event: RecordedEvent) -> None:
        e: MinorFlagged = event.event  # type: ignore[assignment]
        await conn.execute("UPDATE referral_status SET minor = true WHERE referral_id = $1", e.referral_id)

    async def on_MinorityEstablished(self, conn: Any, event: RecordedEvent) -> None:
        e: MinorityEstablished = event.event  # type: ignore[assignment]
        await conn.execute("UPDATE referral_status SET minor = true WHERE case_id = $1", e.case_id)

    async def on_MinorityDisproved(self, conn: Any, event: RecordedEvent) -> None:
        e: MinorityDisproved = event.event  # type: ignore[assignment]
        await conn.execute("UPDATE referral_status SET minor = false WHERE case_id = $1", e.case_id)

    async def on_CaseOpened(self, conn: Any, event: RecordedEvent) -> None:
        e: CaseOpened = event.event  # type: ignore[assignment]
        await conn.execute(
            """UPDATE referral_status SET status = 'admitted', case_id = $2, opened_on = $3, person_id = $4,
                   exploitation_types = $5 WHERE referral_id = $1""",
            e.referral_id, e.case_id, e.opened_on, e.person_id, [t.value for t in e.exploitation_types],
        )  # fmt: skip


class CentreCases(Projection):
    name = "intake.centre_cases"
    tables = ("centre_cases",)

    async def on_CaseOpened(self, conn: Any, event: RecordedEvent) -> None:
        e: CaseOpened = event.event  # type: ignore[assignment]
        consents = await conn.fetchval(
            "SELECT consents FROM referral_status WHERE referral_id = $1", e.referral_id
        )  # the referral's projection ran first for this event (projection order is fixed), so this is stable
        await conn.execute(
            """INSERT INTO centre_cases (case_id, position, centre, referral_id, person_id, opened_on, minor,
                   eu_citizen, exploitation_types, urgency, region, referring_org, consents, minority)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
            e.case_id, event.global_position, e.centre.value, e.referral_id, e.person_id, e.opened_on, e.minor,
            e.eu_citizen, [t.value for t in e.exploitation_types], [u.value for u in e.urgency], e.region.value,
            e.referring_organisation_id, list(consents or []), "unaccompanied" if e.minor else None,
        )  # fmt: skip

    async def on_ConsentGiven(self, conn: Any, event: RecordedEvent) -> None:
        e: ConsentGiven = event.event  # type: ignore[assignment]
        if e.case_id is not None:
            await conn.execute(
                """UPDATE centre_cases SET consents = ARRAY(SELECT DISTINCT unnest(consents || $2::text) ORDER BY 1)
                   WHERE case_id = $1""",
                e.case_id, e.scope.value,
            )  # fmt: skip

    async def on_ConsentWithdrawn(self, conn: Any, event: RecordedEvent) -> None:
        e: ConsentWithdrawn = event.event  # type: ignore[assignment]
        if e.case_id is not None:
            await conn.execute(
                "UPDATE centre_cases SET consents = array_remove(consents, $2) WHERE case_id = $1",
                e.case_id, e.scope.value,
            )  # fmt: skip

    async def on_MinorFlagged(self, conn: Any, event: RecordedEvent) -> None:
        e: MinorFlagged = event.event  # type: ignore[assignment]
        if e.case_id is not None:
            await conn.execute("UPDATE centre_cases SET minor = true, minority = $2 WHERE case_id = $1",
                               e.case_id, e.kind.value)  # fmt: skip

    async def on_MinorityEstablished(self, conn: Any, event: RecordedEvent) -> None:
        e: MinorityEstablished = event.event  # type: ignore[assignment]
        await conn.execute("UPDATE centre_cases SET minor = true, minority = $2 WHERE case_id = $1",
                           e.case_id, e.kind.value)  # fmt: skip

    async def on_MinorityDisproved(self, conn: Any, event: RecordedEvent) -> None:
        e: MinorityDisproved = event.event  # type: ignore[assignment]
        await conn.execute("UPDATE centre_cases SET minor = false, minority = NULL WHERE case_id = $1", e.case_id)

    async def on_PersonErased(self, conn: Any, event: RecordedEvent) -> None:
        # The case stays (justice and statistics still need its facts); only the person's data are gone.
        e: PersonErased = event.event  # type: ignore[assignment]
        await conn.execute(
            "UPDATE centre_cases SET person_erased_on = $2 WHERE person_id = $1", e.person_id, e.erased_on
        )


class PersonIdentity(Projection):
    name = "intake.person_identity"
    tables = ("persons", "person_fields")

    async def on_ReferralSubmitted(self, conn: Any, event: RecordedEvent) -> None:
        e: ReferralSubmitted = event.event  # type: ignore[assignment]
        if e.circumstances is not None:
            person_id = e.circumstances.person_id
            await self._person(conn, person_id, e.referral_id, e.target_centre.value)
            await self._field(conn, person_id, "circumstances", e.circumstances, event, e.submitted_on)

    async def on_IdentityCaptured(self, conn: Any, event: RecordedEvent) -> None:
        e: IdentityCaptured = event.event  # type: ignore[assignment]
        centre = await conn.fetchval("SELECT target_centre FROM referral_status WHERE referral_id = $1", e.referral_id)
        await self._person(conn, e.person_id, e.referral_id, centre)
        for name in IDENTITY_FIELDS:
            sealed = getattr(e, name)
            if sealed is not None:
                await self._field(conn, e.person_id, name, sealed, event, e.captured_on)

    async def on_CaseOpened(self, conn: Any, event: RecordedEvent) -> None:
        e: CaseOpened = event.event  # type: ignore[assignment]
        # An anonymous person gets a row too, so the centre's manager can erase and audit them by id.
        await self._person(conn, e.person_id, e.referral_id, e.centre.value)
        await conn.execute("UPDATE persons SET case_id = $2 WHERE person_id = $1", e.person_id, e.case_id)

    async def on_PersonErased(self, conn: Any, event: RecordedEvent) -> None:
        # The sealed rows stay and read as erased (their key is gone); the mark answers without a key look-up.
        e: PersonErased = event.event  # type: ignore[assignment]
        await conn.execute("UPDATE persons SET erased_on = $2 WHERE person_id = $1", e.person_id, e.erased_on)

    @staticmethod
    async def _person(conn: Any, person_id: str, referral_id: str, centre: str) -> None:
        await conn.execute(
            """INSERT INTO persons (person_id, referral_id, centre) VALUES ($1, $2, $3)
               ON CONFLICT (person_id) DO NOTHING""",
            person_id, referral_id, centre,
        )  # fmt: skip

    @staticmethod
    async def _field(conn: Any, person_id: str, field: str, sealed: Sealed, event: RecordedEvent, on: Any) -> None:
        await conn.execute(
            """INSERT INTO person_fields (person_id, field, sealed, event_id, captured_on)
               VALUES ($1, $2, $3::jsonb, $4, $5)
               ON CONFLICT (person_id, field) DO UPDATE
                   SET sealed = excluded.sealed, event_id = excluded.event_id, captured_on = excluded.captured_on""",
            person_id, field, _json(sealed), event.event_id, on,
        )  # fmt: skip


class LeadList(Projection):
    name = "intake.leads"
    tables = ("leads",)

    async def on_LeadOpened(self, conn: Any, event: RecordedEvent) -> None:
        e: LeadOpened = event.event  # type: ignore[assignment]
        await conn.execute(
            """INSERT INTO leads (lead_id, position, version, centre, region, postcode, seen_on,
                   exploitation_types, signal_ids, catalogue_version, submitted_on, received_on, status)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open')""",
            e.lead_id, event.global_position, event.stream_version, e.centre.value, e.region.value, e.postcode,
            e.seen_on, [t.value for t in e.exploitation_types], list(e.signal_ids),
            e.catalogue_version, e.submitted_on, e.received_on,
        )  # fmt: skip

    async def on_LeadTakenUp(self, conn: Any, event: RecordedEvent) -> None:
        e: LeadTakenUp = event.event  # type: ignore[assignment]
        await conn.execute(
            """UPDATE leads SET status = 'taken-up', referral_id = $2, decided_on = $3, version = $4
               WHERE lead_id = $1""",
            e.lead_id, e.referral_id, e.taken_up_on, event.stream_version,
        )  # fmt: skip

    async def on_LeadClosed(self, conn: Any, event: RecordedEvent) -> None:
        e: LeadClosed = event.event  # type: ignore[assignment]
        await conn.execute(
            """UPDATE leads SET status = 'closed', close_reason = $2, decided_on = $3, version = $4
               WHERE lead_id = $1""",
            e.lead_id, e.reason.value, e.closed_on, event.stream_version,
        )  # fmt: skip


# Order matters: CentreCases and PersonIdentity read rows ReferralStatusView wrote for the same event.
PROJECTIONS: tuple[Projection, ...] = (ReferralStatusView(), CentreCases(), PersonIdentity(), LeadList())
