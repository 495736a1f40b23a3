"""Load–decide–save on an intake file, shared by the API and the ``harbour erase`` command: what intake's commands
queue on, loading what the caller may act on, and the erasure of a person.

Every HTTP command runs under the platform's one policy (``harbour.commands.run_command``): one transaction,
queued on the case's intake file (:func:`file_queue`) or the person (:func:`person_queue`), decided again from a
fresh read when another writer won a race unless the client pinned ``expected_version`` (409,
``harbour.commands.check_version``), and recorded with its Idempotency-Key. A command that writes a person's key
before its append takes the stream's append lock first (``harbour.commands.lock_stream``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from harbour.auth import Caller
from harbour.clock import Clock, today
from harbour.commands import lock_stream
from harbour.custody import Custody, Relation
from harbour.errors import NotFound
from harbour.pii import PersonalDataVault
from harbour.repository import Repository
from harbour.store import CommandContext, EventStore
from schemas.intake import Centre, ErasureReason
from services.intake.access import require_relation
from services.intake.domain import Person, Referral
from services.intake.read_models import case_custody, case_row, person_row


def missing_referral(referral_id: str) -> str:
    return f"no referral {referral_id}"


def missing_person(person_id: str) -> str:
    return f"no person {person_id}"


def file_queue(referral_id: str) -> str:
    """What commands on one intake file queue on: its referral, the case's one stream in intake (before the
    admission there is no case yet; after it, the case's commands act on the same referral)."""
    return f"{Referral.stream_type}-{referral_id}"


def person_queue(person_id: str) -> str:
    """What an erasure queues on: the person's own stream."""
    return f"{Person.stream_type}-{person_id}"


async def load_centre_referral(repository: Repository, referral_id: str, caller: Caller, *, conn: Any,
                               action: str = "referral.admit") -> Referral:  # fmt: skip
    """The referral ``caller``'s centre may act on: addressed to it, or once admitted, a case it holds (then
    ``referral.holder`` says so for the domain). A former holder gets 403; any other referral is 404, exactly
    like one that does not exist."""
    referral = await repository.load_or_new(Referral, referral_id, conn=conn)
    missing = missing_referral(referral_id)
    if referral.version == 0 or referral.target_centre is None:
        raise NotFound(missing)
    held = await custody_of_referral(conn, referral)
    require_relation(action, caller, centre=referral.target_centre.value, missing=missing, custody=held)
    if held is not None:
        referral.holder = Centre(held.centre)
    return referral


async def custody_of_referral(conn: Any, referral: Referral) -> Custody | None:
    """The custody of the referral's case, or None before admission (the addressed centre then acts)."""
    if referral.case_id is None:
        return None
    case = await case_row(conn, referral.case_id)
    return None if case is None else await case_custody(conn, case)


async def person_custody(conn: Any, person: Any) -> Custody | None:
    """The custody of a person's case (a ``persons`` row), or None while the person has none."""
    if person["case_id"] is None:
        return None
    case = await case_row(conn, person["case_id"])
    return None if case is None else await case_custody(conn, case)


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
    caller: Caller | None = None,
    conn: Any = None,
) -> Erased:
    """Destroy the person's key and record ``PersonErased``, in one transaction (neither without the other).

    ``caller`` limits the erasure to the persons of the cases its centre holds (the HTTP endpoint: a former
    holder gets 403, anyone else 404); the command line passes None.
    ``conn``: the transaction to erase in (the HTTP endpoint's, which records its Idempotency-Key with it);
    without one, a transaction of its own.
    """
    if conn is None:
        async with store.transaction() as own:
            return await erase_person(store=store, repository=repository, vault=vault, clock=clock,
                                      context=context, person_id=person_id, reason=reason, caller=caller,
                                      conn=own)  # fmt: skip
    row = await person_row(conn, person_id)
    if row is None:
        raise NotFound(missing_person(person_id))
    if caller is not None:
        held = await person_custody(conn, row)
        if require_relation("person.erase", caller, centre=row["centre"], missing=missing_person(person_id),
                            custody=held) is not Relation.OWNER:  # fmt: skip
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
