"""Which centre holds a case, and since when: the custody periods every service keeps for the cases it follows.

A case is one thing across the services: from a transfer's acceptance the receiving centre acts on every part
of it (the intake file, the residence file and proceedings, the track, the housing), and the former centre
keeps read access to what was recorded in its own period only. Tracks decides a transfer; every other service
applies the accepted transfer through its inbox and records it here, in the transaction of its other effects.

A period is keyed by the hand-over's sequence number (0: admission; n: a transfer accepted as version n of the
track's stream), so redeliveries and facts that arrive out of order converge on the same periods. The end of a
period is the moment this service applied the next hand-over: a former centre may have acted until then, and
what it recorded until then is its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import asyncpg

from harbour.db import Connection


class Relation(StrEnum):
    """How a centre stands to a case: acting owner, former holder (reads its own period), or nothing (404)."""

    OWNER = "owner"
    FORMER = "former"
    NONE = "none"


@dataclass(frozen=True)
class Period:
    centre: str
    seq: int
    since_on: date
    since_at: datetime  # when this service applied the hand-over that began the period
    until_on: date | None = None  # None: the current period
    until_at: datetime | None = None


@dataclass(frozen=True)
class Custody:
    case_id: str
    periods: tuple[Period, ...]  # in hand-over order; never empty

    @property
    def centre(self) -> str:
        """The centre that holds the case now: the only one that may act on it."""
        return self.periods[-1].centre

    def relation(self, centre: str | None) -> Relation:
        if centre == self.centre:
            return Relation.OWNER
        if any(p.centre == centre for p in self.periods):
            return Relation.FORMER
        return Relation.NONE

    def held_until(self, centre: str | None) -> datetime | None:
        """The end of ``centre``'s last period (what it may still read was recorded up to then); None for the
        owner (it reads all) and for a centre that never held the case."""
        if self.relation(centre) is not Relation.FORMER:
            return None
        return max(p.until_at for p in self.periods if p.centre == centre and p.until_at is not None)

    def holder_on(self, day: date) -> str:
        """The centre that held the case on ``day`` (the later one on a hand-over day)."""
        holder = self.periods[0].centre
        for p in self.periods:
            if p.since_on <= day:
                holder = p.centre
        return holder


async def admit(conn: Connection, case_id: str, centre: str, on: date) -> None:
    """The admitting centre's period (idempotent: a redelivered admission changes nothing)."""
    await conn.execute(
        "INSERT INTO case_custody (case_id, seq, centre, since_on) VALUES ($1, 0, $2, $3) ON CONFLICT DO NOTHING",
        case_id, centre, on,
    )  # fmt: skip


async def _lock(conn: Connection, case_id: str, *, shared: bool) -> None:
    # A readers-writer lock per case, held to the end of the transaction: commands that act on the case hold it
    # shared (any number at once), a hand-over exclusively. So a command that passed its access check commits
    # before the hand-over is applied, or waits and then sees the new holder; never a former holder's act
    # recorded after the hand-over (a race observed in intake).
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(f"SELECT {fn}(hashtextextended($1, 0))", f"custody:{case_id}")


async def hand_over(conn: Connection, case_id: str, *, to_centre: str, seq: int, on: date) -> bool:
    """An accepted transfer (``seq`` > 0, the track stream's version of its acceptance); False if already known."""
    if seq <= 0:
        raise ValueError("a transfer's sequence number is the version of its acceptance, above 0")
    await _lock(conn, case_id, shared=False)
    # clock_timestamp(), not now(): stamped after the locks (this one and any the caller took), so a former
    # holder's command that committed while the hand-over waited began before this moment: its own period.
    status = await conn.execute(
        """INSERT INTO case_custody (case_id, seq, centre, since_on, applied_at)
           VALUES ($1, $2, $3, $4, clock_timestamp()) ON CONFLICT DO NOTHING""",
        case_id, seq, to_centre, on,
    )  # fmt: skip
    return bool(status.endswith(" 1"))


async def load(conn: Connection, case_id: str, *, acting: bool = False) -> Custody | None:
    """The case's periods, or None while this service knows no centre for it.

    ``acting``: the caller decides a command on the case in this transaction; custody then holds until it commits
    (a hand-over waits for the command, or the command for the hand-over)."""
    if acting:
        await _lock(conn, case_id, shared=True)
    rows = await conn.fetch(
        "SELECT seq, centre, since_on, applied_at FROM case_custody WHERE case_id = $1 ORDER BY seq", case_id
    )
    if not rows:
        return None
    return Custody(case_id, _periods(rows))


async def held_by(conn: Connection, centre: str) -> list[str]:
    """The ids of the cases ``centre`` holds now (its caseload in this service)."""
    rows = await conn.fetch(
        """SELECT case_id FROM (SELECT DISTINCT ON (case_id) case_id, centre FROM case_custody
                                ORDER BY case_id, seq DESC) latest
           WHERE centre = $1 ORDER BY case_id""",
        centre,
    )
    return [r["case_id"] for r in rows]


def _periods(rows: list[asyncpg.Record]) -> tuple[Period, ...]:
    periods: list[Period] = []
    for i, row in enumerate(rows):
        later = rows[i + 1 :]
        periods.append(
            Period(
                centre=row["centre"],
                seq=row["seq"],
                since_on=row["since_on"],
                since_at=row["applied_at"],
                until_on=later[0]["since_on"] if later else None,
                # Hand-overs applied out of order (the second of a chain consumed first): a period ends when the
                # first of the later hand-overs was applied here, so a former holder never reads past the moment
                # it stopped holding the case.
                until_at=min(r["applied_at"] for r in later) if later else None,
            )
        )
    return tuple(periods)
