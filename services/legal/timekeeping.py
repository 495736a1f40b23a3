"""Legal days and the durable timers they imply: document reminders and expiries, hearing checks.

Belgian legal deadlines are calendar days in Brussels, not UTC: a document "valid until 14 March" is valid
the whole of that day in Belgium. Timers fire at 08:00 Brussels time on their day, so a caseworker finds the
reminder at the start of the working day, and the date a handler sees is exactly the domain's due date.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from harbour import timers
from harbour.clock import Clock, local_moment, today, zone_of
from harbour.settings import HarbourSettings
from schemas.legal import HearingScheduled
from services.legal.residence import ResidenceProcedure
from services.legal.rules import DEFAULT_REMINDER_DAYS, DeadlineKind, ResidenceRules

# Brussels' zone as harbour.clock gives it (BE's legal time), for the tests and tools that set a clock to a
# Brussels moment; the service itself only ever asks harbour.clock for its days and moments.
BRUSSELS = zone_of("BE")
FIRING_TIME = time(8, 0)

REMINDER = "legal.document-reminder"
EXPIRY = "legal.document-expiry"
HEARING_CHECK = "legal.hearing-check"


def legal_today(clock: Clock) -> date:
    """Today's legal day (harbour.clock.today: the jurisdiction's calendar, Brussels for BE)."""
    return today(clock)


def morning_of(day: date) -> datetime:
    """The moment a timer for ``day`` fires: 08:00 Brussels (DST handled by the zone)."""
    return local_moment(day, FIRING_TIME)


def rules_from(settings: HarbourSettings) -> ResidenceRules:
    return ResidenceRules(
        requisitions_suffice_for_b_card=settings.b_card_on_requisitions,
        reminder_days=tuple(settings.reminder_days) or DEFAULT_REMINDER_DAYS,
    )


def hearing_lead_days(settings: HarbourSettings) -> int:
    """How long before a hearing its stay check runs: the longest reminder lead, time enough to renew."""
    return max(settings.reminder_days, default=max(DEFAULT_REMINDER_DAYS))


def hearing_check_day(hearing_on: date, settings: HarbourSettings) -> date:
    return hearing_on - timedelta(days=hearing_lead_days(settings))


# ---- keys: one family per case and concern, so a whole family is cancelled by prefix ------------------------


def _document_prefix(case_id: str) -> str:
    return f"legal:{case_id}:document:"


def _hearing_key(case_id: str, hearing_no: int) -> str:
    return f"legal:{case_id}:hearing:{hearing_no}"


async def sync_document_timers(conn: Any, residence: ResidenceProcedure) -> None:
    """Make the pending timers exactly those the document in force implies (call after it changed).

    Keys name the document and its end date, so a renewal or a replacement gets new keys while the old
    document's pending ones are cancelled; a key that already fired is never fired again (timers.schedule).
    """
    prefix = _document_prefix(residence.id)
    await timers.cancel_prefix(conn, prefix)
    for deadline in residence.deadlines():
        payload: dict[str, Any] = {"document": deadline.document.value, "ends_on": deadline.ends_on.isoformat()}
        if deadline.kind is DeadlineKind.REMINDER:
            suffix, kind = f"reminder-{deadline.days_before}", REMINDER
            payload["days_before"] = deadline.days_before
        else:
            suffix, kind = "expiry", EXPIRY
        await timers.schedule(
            conn,
            key=f"{prefix}{deadline.document.value}:{deadline.ends_on.isoformat()}:{suffix}",
            kind=kind,
            due_at=morning_of(deadline.due_on),
            case_id=residence.id,
            payload=payload,
        )


async def schedule_hearing_check(conn: Any, hearing: HearingScheduled, settings: HarbourSettings) -> None:
    """A check, ahead of the hearing, that the person's stay will be valid that day (due at once if late)."""
    await timers.schedule(
        conn,
        key=_hearing_key(hearing.case_id, hearing.hearing_no),
        kind=HEARING_CHECK,
        due_at=morning_of(hearing_check_day(hearing.hearing_on, settings)),
        case_id=hearing.case_id,
        payload={"hearing_no": hearing.hearing_no, "hearing_on": hearing.hearing_on.isoformat(),
                 "court": hearing.court},
    )  # fmt: skip
