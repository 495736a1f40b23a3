"""Cursors of list endpoints (harbour/http/pages.py): a key comes back as it went in; anything else is a 422."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.exceptions import RequestValidationError

from harbour.http.pages import cursor, integer, moment, page_of, read_cursor, text


def test_a_cursor_gives_back_the_key_it_was_made_of():
    after = cursor("2026-12-02", "case-1", "document")
    assert read_cursor(after, date.fromisoformat, text, text) == [date(2026, 12, 2), "case-1", "document"]


@pytest.mark.parametrize("after", ["AAAA", "not a cursor", cursor("case-1"), cursor("a", 3), cursor("a", "b\x00")])
def test_a_cursor_the_service_did_not_give_is_a_422_naming_after(after):
    with pytest.raises(RequestValidationError) as refused:
        read_cursor(after, text, text)
    assert refused.value.errors()[0]["loc"] == ("query", "after")


def test_a_cursor_of_integers_and_moments_gives_them_back_as_they_were():
    at = datetime(2026, 12, 2, 6, 30, 1, 123456, tzinfo=UTC)
    assert read_cursor(cursor(2, at.isoformat(), 2**63 - 1), integer, moment, integer) == [2, at, 2**63 - 1]


AT = "2026-12-02T06:30:00+00:00"


@pytest.mark.parametrize("key", [(2**63, AT), (True, AT), ("2", AT), (2, "2026-12-02T06:30:00"), (2, "yesterday")])
def test_an_integer_past_int64_or_a_moment_without_its_zone_in_a_cursor_is_a_422_naming_after(key):
    with pytest.raises(RequestValidationError) as refused:
        read_cursor(cursor(*key), integer, moment)
    assert refused.value.errors()[0]["loc"] == ("query", "after")


def test_a_list_read_whole_is_cut_into_pages_after_the_cursors_key_each_row_once():
    rows = [(1, "a"), (1, "b"), (2, "a"), (5, "c"), (7, "d")]
    pages, after = [], None
    while True:
        page, after = page_of(rows, list, after, 2)
        pages.append(page)
        if after is None:
            break
    assert pages == [[(1, "a"), (1, "b")], [(2, "a"), (5, "c")], [(7, "d")]]
    assert page_of(rows, list, [5, "c"], 2) == ([(7, "d")], None)
    assert page_of(rows, list, [3, "x"], 2) == ([(5, "c"), (7, "d")], None)  # a row gone since: the next ones
    assert page_of(rows, list, [9, "z"], 2) == ([], None)
    assert page_of([], list, None, 2) == ([], None)
