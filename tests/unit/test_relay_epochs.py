"""The relay_epoch header as a consumer reads it (harbour.kafka.rebuild.parse_epoch): a relay's own header gives
its name and epoch; anything else, whoever wrote it, is no reason to read a partition again."""

from __future__ import annotations

import pytest

from harbour.kafka.rebuild import epoch_header, parse_epoch

NOW = 1_796_000_000.0  # seconds since 1970, late 2026


def test_a_relays_own_header_reads_back_as_its_name_and_epoch():
    name, value = epoch_header("milestones:intake", 1_795_999_999_123456)
    assert name == "relay_epoch"
    assert parse_epoch(value.decode(), now=NOW) == ("milestones:intake", 1_795_999_999_123456)


def test_a_relay_that_never_rebuilt_has_epoch_zero():
    assert parse_epoch("relay:legal@0", now=NOW) == ("relay:legal", 0)


def test_a_relay_name_may_itself_hold_an_at_sign():
    assert parse_epoch("relay:a@b@12", now=NOW) == ("relay:a@b", 12)


@pytest.mark.parametrize(
    "value",
    ["", "@", "relay:legal", "relay:legal@", "@12", "relay:legal@-1", "relay:legal@+1", "relay:legal@1e5",
     "relay:legal@ 12", "relay:legal@12 ", "relay:legal@１２", "relay:legal@" + "9" * 19, "relay:legal@٣"],
)  # fmt: skip
def test_a_header_that_is_not_a_relays_epoch_is_ignored(value):
    assert parse_epoch(value, now=NOW) is None


def test_an_epoch_more_than_an_hour_ahead_is_ignored_so_that_it_cannot_hide_the_relays_next_rebuild():
    hour_ahead = int((NOW + 3600) * 1_000_000)
    assert parse_epoch(f"relay:legal@{hour_ahead}", now=NOW) == ("relay:legal", hour_ahead)
    assert parse_epoch(f"relay:legal@{hour_ahead + 1_000_000}", now=NOW) is None
