"""One local date: the jurisdiction's calendar decides "today", across midnight and the DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from harbour.clock import JURISDICTION_ZONES, ManualClock, local_day, local_moment, today, zone_of


@pytest.mark.parametrize(
    ("utc", "brussels_day"),
    [
        (datetime(2026, 1, 14, 22, 30, tzinfo=UTC), date(2026, 1, 14)),  # 23:30 in winter (UTC+1)
        (datetime(2026, 1, 14, 23, 30, tzinfo=UTC), date(2026, 1, 15)),  # 00:30: UTC still says the 14th
        (datetime(2026, 7, 14, 21, 59, tzinfo=UTC), date(2026, 7, 14)),  # 23:59 in summer (UTC+2)
        (datetime(2026, 7, 14, 22, 0, tzinfo=UTC), date(2026, 7, 15)),  # midnight in summer
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), date(2026, 3, 29)),  # the night the clocks go forward
        (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), date(2026, 10, 25)),  # the night they go back: 00:30 CEST
        (datetime(2026, 10, 25, 22, 30, tzinfo=UTC), date(2026, 10, 25)),  # next evening: 23:30 CET
    ],
)
def test_today_is_the_brussels_calendar_day_whatever_utc_says(utc: datetime, brussels_day: date) -> None:
    assert today(ManualClock(utc), "BE") == brussels_day
    assert local_day(utc, "BE") == brussels_day


def test_the_default_jurisdiction_is_the_configured_one_belgium() -> None:
    assert zone_of() == zone_of("BE")
    assert today(ManualClock(datetime(2026, 1, 14, 23, 30, tzinfo=UTC))) == date(2026, 1, 15)


@pytest.mark.parametrize("day", [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30), date(2026, 10, 25)])
def test_a_local_moment_keeps_its_wall_clock_time_across_the_dst_changes(day: date) -> None:
    moment = local_moment(day, time(8, 0), "BE")
    assert moment.astimezone(zone_of("BE")).time() == time(8, 0)
    assert local_day(moment, "BE") == day
    summer = day >= date(2026, 3, 29) and day < date(2026, 10, 25)
    assert moment.astimezone(UTC).hour == (6 if summer else 7)


def test_a_naive_moment_is_taken_as_utc_never_as_the_machine_zone() -> None:
    assert local_day(datetime(2026, 1, 14, 23, 30), "BE") == date(2026, 1, 15)


def test_every_member_state_has_a_zone_and_an_unknown_jurisdiction_is_refused() -> None:
    assert len(JURISDICTION_ZONES) == 27 and all(zone_of(j) for j in JURISDICTION_ZONES)
    with pytest.raises(ValueError, match="no time zone"):
        zone_of("XX")
