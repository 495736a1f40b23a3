"""Command plumbing shared by the API and the ``harbour erase`` command: loading what the caller may act on,
stale-version checks, stream locks, and the erasure of a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from harbour.aggregate import Aggregate
from harbour.clock import Clock, today
from harbour.errors import ConcurrencyError, NotFound
from harbour.pii import PersonalDataVault
from harbour.repository import Repository
from harbour.store import CommandContext, EventStore
from schemas.intake import ErasureReason
from services.intake.domain import Person, Referral
from services.intake.queries import person_row


def missing_referral(referral_id: str) -> str:
    return f"no referral {referral_id}"


def missing_person(person_id: str) -> str:
    return f"no person {person_id}"


async def lock_stream(conn: Any, stream_id: str) -> None:
    """Take the stream's append lock before this transaction writes anything else (a person's key, say).

    ``harbour_append`` takes this same transaction-level advisory lock; taking it first (it is re-entrant) keeps
    the append's rule that a stream's later events come from later transactions, which a write made before the
    lock could break (the append would then refuse with HB40R). It also serialises two such commands on one
    stream, so the second reads the first's events instead of failing.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", stream_id)


def check_version(aggregate: Aggregate, expected: int | None) -> None:
    """A client that read version N and acts on it must not overwrite what happened since (409)."""
    if expected is not None and expected != aggregate.version:
        raise ConcurrencyError(aggregate.stream_id, expected, aggregate.version)


async def load_centre_referral(repository: Repository, referral_id: str, centre: str, *, conn: Any = None) -> Referral:
    """The referral addressed to ``centre``; any other referral is 404, exactly like one that does not exist."""
    referral = await repository.load_or_new(Referral, referral_id, conn=conn)
    if referral.version == 0 or referral.target_centre is None or referral.target_centre.value != centre:
        raise NotFound(missing_referral(referral_id))
    return referral


@dataclass(frozen=True)
class Erased:
    person_id: str
    erased_on: date
    reason: ErasureReason


async def erase_person(
    *,
    store: EventStore,
    repository: Repository,
    vault: PersonalDataVault,
    clock: Clock,
    context: CommandContext,
    person_id: str,
    reason: ErasureReason,
    centre: str | None = None,
    conn: Any = None,
) -> Erased:
    """Destroy the person's key and record ``PersonErased``, in one transaction (neither without the other).

    ``centre`` limits the erasure to that centre's persons (the HTTP endpoint); the command line passes None.
    ``conn``: the transaction to erase in (the HTTP endpoint's, which records its Idempotency-Key with it);
    without one, a transaction of its own.
    """
    if conn is None:
        async with store.transaction() as own:
            return await erase_person(store=store, repository=repository, vault=vault, clock=clock,
                                      context=context, person_id=person_id, reason=reason, centre=centre,
                                      conn=own)  # fmt: skip
    row = await person_row(conn, person_id)
    if row is None or (centre is not None and row["centre"] != centre):
        raise NotFound(missing_person(person_id))
    person = Person(person_id)
    await lock_stream(conn, person.stream_id)
    person = await repository.load_or_new(Person, person_id, conn=conn)
    on = today(clock)
    # Keyed by the person's case (or referral): on the partition after the events that carried their data.
    person.erase(reason=reason, on=on, case_key=row["case_id"] or row["referral_id"])
    await vault.erase(conn, person_id)
    await repository.save(person, context, conn=conn)
    return Erased(person_id, on, reason)
