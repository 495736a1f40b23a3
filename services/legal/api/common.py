"""What every legal endpoint shares: the authorised unit of work, the date of a fact, the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Literal

from harbour.auth import Caller
from harbour.errors import RuleViolation
from harbour.service import ServiceRuntime
from harbour.store import RecordedEvent
from services.legal.access import Action, CaseAccess, authorize
from services.legal.api.models import Accepted
from services.legal.timekeeping import legal_today
from services.legal.workflow import LegalWork


@asynccontextmanager
async def work_on(
    rt: ServiceRuntime, caller: Caller, case_id: str, action: Action
) -> AsyncIterator[tuple[LegalWork, CaseAccess]]:
    """One transaction: the access check reads the same snapshot the command then decides on."""
    async with rt.store.transaction() as conn:
        case = await authorize(conn, caller, case_id, action)
        yield LegalWork(rt, conn, rt.command_context(caller), legal_today(rt.clock)), case


def day_of(on: date | None, today: date, field: str = "on") -> date:
    """The day a fact happened: today by default; a future day is refused (deadlines would start from it)."""
    if on is None:
        return today
    if on > today:
        raise RuleViolation(f"{on} is in the future", field=field)
    return on


def accepted(
    case_id: str, stream: Literal["residence", "proceedings"], version: int, recorded: list[RecordedEvent]
) -> Accepted:
    return Accepted(case_id=case_id, stream=stream, version=version, events=[r.event_type for r in recorded])
