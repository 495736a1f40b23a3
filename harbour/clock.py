"""An injectable clock, and the one way to tell which day it is.

Legal deadlines are tested by moving time, never by sleeping. A date a service records ("statement made on",
"moved on", "today" for a deadline) is a calendar day where the case is, not in UTC: between midnight and
01:00/02:00 Brussels time UTC still says yesterday, and two services that disagreed would date one fact twice.
Every service asks :func:`today` (or :func:`local_day` for a stored moment); the jurisdiction's zone comes
from :data:`JURISDICTION_ZONES`, keyed like the envelope's ``jurisdiction``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo

# The legal time of each jurisdiction the platform can serve (the EU member states; a state with several
# zones is listed by the zone of its capital, where its courts and administrations count their days).
JURISDICTION_ZONES: dict[str, str] = {
    "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia", "CY": "Asia/Nicosia",
    "CZ": "Europe/Prague", "DE": "Europe/Berlin", "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn",
    "ES": "Europe/Madrid", "FI": "Europe/Helsinki", "FR": "Europe/Paris", "GR": "Europe/Athens",
    "HR": "Europe/Zagreb", "HU": "Europe/Budapest", "IE": "Europe/Dublin", "IT": "Europe/Rome",
    "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg", "LV": "Europe/Riga", "MT": "Europe/Malta",
    "NL": "Europe/Amsterdam", "PL": "Europe/Warsaw", "PT": "Europe/Lisbon", "RO": "Europe/Bucharest",
    "SE": "Europe/Stockholm", "SI": "Europe/Ljubljana", "SK": "Europe/Bratislava",
}  # fmt: skip


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when a test (or the demo) moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


@cache
def zone_of(jurisdiction: str | None = None) -> ZoneInfo:
    """The time zone that decides a day in ``jurisdiction`` (default: the configured one, HARBOUR_JURISDICTION)."""
    if jurisdiction is None:
        from harbour.settings import get_settings  # late: settings import nothing from here, keep it that way

        jurisdiction = get_settings().jurisdiction
    try:
        return ZoneInfo(JURISDICTION_ZONES[jurisdiction])
    except KeyError:
        raise ValueError(f"no time zone known for jurisdiction {jurisdiction!r}") from None


def local_day(moment: datetime, jurisdiction: str | None = None) -> date:
    """The calendar day ``moment`` falls on in the jurisdiction (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone_of(jurisdiction)).date()


def today(clock: Clock, jurisdiction: str | None = None) -> date:
    """Today in the jurisdiction: the one "today" every service uses for the dates it records and checks."""
    return local_day(clock.now(), jurisdiction)


def local_moment(day: date, at: time, jurisdiction: str | None = None) -> datetime:
    """``day`` at the wall-clock time ``at`` in the jurisdiction (08:00 stays 08:00 across the DST changes)."""
    return datetime.combine(day, at, tzinfo=zone_of(jurisdiction))
