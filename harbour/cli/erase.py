"""``harbour erase <person-id> --reason ...``: erase a person's identifying data from the intake service.

The same command as the centre manager's HTTP endpoint (``services.intake.commands.erase_person``): the
person's key is destroyed and ``PersonErased`` recorded in one transaction on intake's own database (found from
the settings, like the service), with the read models updated inline. The running intake relay then publishes
``PersonErased``, and every service holding that person's data erases its own key in turn. Meant for operators
acting on a documented request or at the end of retention; it is not limited to one centre.
"""

from __future__ import annotations

import asyncio

import asyncpg
import typer

from harbour.cli import app, console, fail
from harbour.clock import SystemClock
from harbour.db import create_pool
from harbour.errors import NotFound, RuleViolation
from harbour.pii import PersonalDataVault
from harbour.repository import Repository
from harbour.service import default_endpoints
from harbour.settings import HarbourSettings, get_settings
from harbour.store import Actor, CommandContext, EventStore
from schemas.intake import ErasureReason


async def erase_in_intake(person_id: str, reason: ErasureReason, settings: HarbourSettings) -> str:
    """Erase ``person_id`` in intake's database; returns the erasure date (ISO). Raises NotFound/RuleViolation."""
    # Imported here: the service package is only needed when this command runs, not for the CLI's other commands.
    from services.intake.app import DEFINITION
    from services.intake.commands import erase_person

    url = default_endpoints(DEFINITION, settings).database_url
    try:
        pool = await create_pool(url, min_size=1, max_size=2)
    except asyncpg.InvalidCatalogNameError:
        fail(f"the intake database ({url.rpartition('/')[2]}) does not exist: has the intake service run here?")
    try:
        store = EventStore(pool, clock=SystemClock(), jurisdiction=settings.jurisdiction)
        erased = await erase_person(
            store=store,
            repository=Repository(store, DEFINITION.projections),
            vault=PersonalDataVault.from_settings(settings),
            clock=store.clock,
            context=CommandContext(actor=Actor.system("cli.erase")),
            person_id=person_id,
            reason=reason,
        )
    finally:
        await pool.close()
    return erased.erased_on.isoformat()


@app.command("erase")
def erase(
    person_id: str = typer.Argument(..., help="the person's pseudonymous id (as in CaseOpened.person_id)"),
    reason: ErasureReason = typer.Option(..., "--reason", help="why: person-request (GDPR Art. 17) or retention-ended"),
) -> None:
    """Destroy a person's key in intake and record PersonErased; the case's non-identifying facts remain."""
    try:
        on = asyncio.run(erase_in_intake(person_id, reason, get_settings()))
    except (NotFound, RuleViolation) as exc:
        fail(exc.detail)
    console.print(f"person {person_id} erased on {on} ({reason.value})", highlight=False)
