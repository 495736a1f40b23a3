"""Legal days are Brussels days; timers fire at 08:00 Brussels on their day, summer or winter."""

from __future__ import annotations

from datetime import UTC, date, datetime

from harbour.clock import ManualClock
from harbour.settings import HarbourSettings
from services.legal.timekeeping import hearing_check_day, legal_today, morning_of, rules_from


def test_a_timer_fires_at_eight_in_brussels_in_winter_and_in_summer() -> None:
    assert morning_of(date(2026, 1, 15)).astimezone(UTC) == datetime(2026, 1, 15, 7, 0, tzinfo=UTC)
    assert morning_of(date(2026, 7, 15)).astimezone(UTC) == datetime(2026, 7, 15, 6, 0, tzinfo=UTC)


def test_just_after_midnight_in_brussels_it_is_already_the_next_legal_day() -> None:
    clock = ManualClock(datetime(2026, 3, 14, 23, 30, tzinfo=UTC))
    assert legal_today(clock) == date(2026, 3, 15)


def test_the_reminder_days_and_the_b_card_setting_come_from_the_settings() -> None:
    settings = HarbourSettings(reminder_days=[30, 7], b_card_on_requisitions=True)
    rules = rules_from(settings)
    assert rules.reminder_days == (30, 7) and rules.requisitions_suffice_for_b_card is True
    assert hearing_check_day(date(2026, 6, 30), settings) == date(2026, 5, 31)
