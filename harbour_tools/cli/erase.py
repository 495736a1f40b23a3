"""``harbour erase <person-id> --reason ...``: erase a person's identifying data from the intake service.

The same command as the centre manager's HTTP endpoint (``services.intake.commands.erase_person``): the
person's key is destroyed and ``PersonErased`` recorded in one transaction on intake's own database (found from
the settings, like the service), with the read models updated inline. The command then waits until the dead copy
of the key that the erasure's UPDATE left in the keys table's pages is rewritten away (harbour.pii
``purge_dead_key_copies``), and says whether it is. The running intake relay publishes ``PersonErased``, and
every service holding that person's data erases (and purges) its own key in turn. Meant for operators acting on a
documented request or at the end of retention; it is not limited to one centre.
"""

from __future__ import annotations

import asyncio

import asyncpg
import typer

from harbour.clock import SystemClock
from harbour.db import create_pool
from harbour.errors import NotFound, RuleViolation
from harbour.pii import PersonalDataVault, PurgeOutcome, purge_dead_key_copies
from harbour.repository import Repository
from harbour.service import default_endpoints
from harbour.settings import HarbourSettings, get_settings
from harbour.store import Actor, CommandContext, EventStore
from harbour_tools.cli import app, console, fail
from schemas.intake import ErasureReason


async def erase_in_intake(
    person_id: str, reason: ErasureReason, settings: HarbourSettings, *, purge_wait: float = 60.0
) -> tuple[str, PurgeOutcome]:
    """Erase ``person_id`` in intake's database, then purge the key's dead copy (waiting up to ``purge_wait`` s).

    Returns the erasure date (ISO) and the purge's outcome. Raises NotFound/RuleViolation.
    """
    # Imported here: the service package is only needed when this command runs, not for the CLI's other commands.
    from services.intake.app import DEFINITION
    from services.intake.commands import erase_person

    url = default_endpoints(DEFINITION, settings).database_url
    try:
        pool = await create_pool(url, min_size=1, max_size=2)
    except asyncpg.InvalidCatalogNameError:
        fail(f"the intake database ({url.rpartition('/')[2]}) does not exist: has the intake service run here?")
    vault = PersonalDataVault.from_settings(settings)
    try:
        store = EventStore(pool, clock=SystemClock(), jurisdiction=settings.jurisdiction)
        erased = await erase_person(
            store=store,
            repository=Repository(store, DEFINITION.projections),
            vault=vault,
            clock=store.clock,
            context=CommandContext(actor=Actor.system("cli.erase")),
            person_id=person_id,
            reason=reason,
        )
        # The vault started a purge in the background; this command waits for one in the foreground instead, so
        # that it can say whether the copy is gone before it exits (the request stays recorded if it is not).
        await vault.close()
        purge = await purge_dead_key_copies(pool, wait_seconds=purge_wait)
    finally:
        await vault.close()
        await pool.close()
    return erased.erased_on.isoformat(), purge


@app.command("erase")
def erase(
    person_id: str = typer.Argument(..., help="the person's pseudonymous id (as in CaseOpened.person_id)"),
    reason: ErasureReason = typer.Option(..., "--reason", help="why: person-request (GDPR Art. 17) or retention-ended"),
    purge_wait: float = typer.Option(
        60.0, "--purge-wait", help="seconds to wait for older transactions before the key's dead copy is rewritten"
    ),
) -> None:
    """Destroy a person's key in intake and record PersonErased; the case's non-identifying facts remain."""
    try:
        on, purge = asyncio.run(erase_in_intake(person_id, reason, get_settings(), purge_wait=purge_wait))
    except (NotFound, RuleViolation) as exc:
        fail(exc.detail)
    console.print(f"person {person_id} erased on {on} ({reason.value})", highlight=False)
    if purge.pending:
        # Erased all the same (the key is wiped from the live row); only the dead copy waits for its rewrite.
        fail(
            f"the key's dead copy is still in the keys table's pages: {purge.held_back_by}; "
            "it is purged with the next erasure, or run `harbour keys purge intake`",
            code=2,
        )
    console.print("key purged from the keys table's pages (no dead copy left)", highlight=False)
