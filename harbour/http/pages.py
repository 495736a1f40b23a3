"""Opaque keyset cursors of list endpoints (docs/CONVENTIONS.md, "Lists are pages").

A cursor is the last item's ordering key as a JSON array, base64url-encoded: opaque to clients, so a service may
change its ordering key without a client depending on it. A cursor the service did not give is bad input, a 422
naming ``after`` like any query parameter FastAPI refuses, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError

T = TypeVar("T")

# What the ``after`` query parameter of a page may look like (base64url), before it is decoded.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+={0,2}$"


def cursor(*key: str | int) -> str:
    """The cursor naming ``key``, the ordering key of a page's last item."""
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode()


def text(value: Any) -> str:
    """A text part of a key: a string the database can hold (no NUL)."""
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError("not a text key")
    return value


def integer(value: Any) -> int:
    """An integer part of a key: within PostgreSQL's bigint, which a forged cursor could overflow (a 500)."""
    if not isinstance(value, int) or isinstance(value, bool) or not -(2**63) <= value < 2**63:
        raise ValueError("not an integer key")
    return value


def moment(value: Any) -> datetime:
    """A moment part of a key (``datetime.isoformat()`` of an aware datetime, as the service wrote it)."""
    parsed = datetime.fromisoformat(text(value))
    if parsed.tzinfo is None:
        raise ValueError("not a moment key")
    return parsed


def read_cursor(after: str, *parts: Callable[[Any], Any]) -> list[Any]:
    """The key ``after`` names, each part read by its parser (``text``, ``date.fromisoformat``, ...)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(after.encode()))
        if not isinstance(key, list) or len(key) != len(parts):
            raise ValueError(after)
        return [parse(value) for parse, value in zip(parts, key, strict=True)]
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
        raise RequestValidationError([{"loc": ("query", "after"), "msg": "not a cursor this service gave",
                                       "type": "value_error"}]) from error  # fmt: skip


def page_of(rows: Sequence[T], key: Callable[[T], list[Any]], after: list[Any] | None,
            limit: int) -> tuple[list[T], list[Any] | None]:  # fmt: skip
    """A page of ``rows``, already in ``key`` order, read in memory: the rows after the key ``after`` (all from the
    first when None), at most ``limit``, and the key of the last one when more follow (else None). For a list a
    service must read whole anyway (one case's events, filtered by what the caller may see)."""
    start = 0 if after is None else next((i for i, row in enumerate(rows) if key(row) > after), len(rows))
    page = list(rows[start : start + limit])
    return page, (key(page[-1]) if page and start + limit < len(rows) else None)
