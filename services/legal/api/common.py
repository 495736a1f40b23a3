"""What every legal endpoint shares: the authorised unit of work, the date of a fact, the answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, Literal, TypeVar

from fastapi import Response

from harbour.auth import Caller
from harbour.commands import run_command
from harbour.errors import RuleViolation
from harbour.service import ServiceRuntime
from harbour.store import RecordedEvent
from services.legal.access import Action, CaseAccess, authorize
from services.legal.api.models import Accepted, Command
from services.legal.commands import LegalWork, case_queue
from services.legal.dates import check_command
from services.legal.timekeeping import legal_today

T = TypeVar("T")


async def run_on(
    rt: ServiceRuntime, caller: Caller, case_id: str, action: Action, body: Command,
    command: Callable[[LegalWork, CaseAccess], Awaitable[T]],
) -> Response:  # fmt: skip
    """Run ``command`` in one transaction whose access check reads the same snapshot the command decides on.

    Without a client-pinned ``expected_version``, a race lost to a handler or timer that appended meanwhile (a
    deadline noted on the file) is decided again from a fresh read rather than answered with 409: the
    caseworker decided on nothing stale. With one, the conflict is the client's to see. Commands on one case
    queue behind each other (both of its streams: a dismissal also ends the residence status).
    """

    async def attempt(conn: Any) -> T:
        case = await authorize(conn, caller, case_id, action)
        work = LegalWork(rt, conn, rt.command_context(caller), legal_today(rt.clock))
        # After access (a stranger learns nothing from a 422), before the command decides: a date the case's
        # history or the calendar rules out, or an office nobody knows, records nothing.
        await check_command(work, case, action, body)
        return await command(work, case)

    # The answer (``Accepted``, built from the events this transaction recorded) is recorded with the
    # command's Idempotency-Key in the same transaction; legal bodies carry no personal data.
    return await run_command(rt.store.transaction, attempt, org=caller.org, body=body,  # type: ignore[arg-type]
                             queue_on=case_queue(case_id), expected_version=body.expected_version)  # fmt: skip


def day_of(on: date | None, today: date, field: str = "on") -> date:
    """The day a fact happened: today by default; a future day is refused (deadlines would start from it).

    The date rules (services/legal/dates.RULES) refuse a future day first, naming their rule; this stays
    the backstop for a command no rule covers."""
    if on is None:
        return today
    if on > today:
        raise RuleViolation(f"{on} is in the future", field=field)
    return on


def accepted(
    case_id: str, stream: Literal["residence", "proceedings"], version: int, recorded: list[RecordedEvent]
) -> Accepted:
    return Accepted(case_id=case_id, stream=stream, version=version, events=[r.event_type for r in recorded])
