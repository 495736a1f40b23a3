"""Cursors of list endpoints (harbour/http/pages.py): a key comes back as it went in; anything else is a 422."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.exceptions import RequestValidationError

from harbour.http.pages import cursor, read_cursor, text


def test_a_cursor_gives_back_the_key_it_was_made_of():
    after = cursor("2026-12-02", "case-1", "document")
    assert read_cursor(after, date.fromisoformat, text, text) == [date(2026, 12, 2), "case-1", "document"]


@pytest.mark.parametrize("after", ["AAAA", "not a cursor", cursor("case-1"), cursor("a", 3), cursor("a", "b\x00")])
def test_a_cursor_the_service_did_not_give_is_a_422_naming_after(after):
    with pytest.raises(RequestValidationError) as refused:
        read_cursor(after, text, text)
    assert refused.value.errors()[0]["loc"] == ("query", "after")
