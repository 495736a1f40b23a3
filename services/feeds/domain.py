"""The feeds' vocabulary: which audiences exist, which topic is whose, what a feed item and a page are.

Pure: no I/O. A feed is the milestones of one audience in the order feeds stored them, each numbered by a
cursor (1, 2, 3, ... per audience, no gaps). A client keeps the last cursor it has and asks for what comes
after it, over HTTP pages or a server-sent event stream; the numbers never change once given.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from harbour.settings import get_settings
from schemas import audiences as published
from schemas.milestones import Milestone

_TOPIC = re.compile(r"milestones\.(?P<audience>[a-z0-9]+(?:-[a-z0-9]+)*)\.v1")

MAX_CURSOR = 2**63 - 1  # cursors are PostgreSQL bigints: a larger one is bad input, not a server error
MAX_PAGE = 500


def audiences() -> list[str]:
    """Every audience with a feed: the audiences of the milestone policy (with the configured police zones)."""
    return published.all_audiences(get_settings().police_zones)


def is_audience(name: str) -> bool:
    return published.is_audience(name, get_settings().police_zones)


def audience_of_topic(topic: str) -> str:
    """``milestones.<audience>.v1`` → ``<audience>``; ValueError for any other topic."""
    match = _TOPIC.fullmatch(topic)
    if match is None:
        raise ValueError(f"{topic!r} is not an audience topic")
    return match["audience"]


def check_addressed(milestone: Milestone, topic: str) -> None:
    """A milestone is stored only in the feed of the audience it names, and only when it came on that
    audience's topic: one found on another's topic is misrouted, and showing it would leak it."""
    if milestone.audience != audience_of_topic(topic):
        raise ValueError("the milestone's audience is not the audience of its topic")


class FeedItem(BaseModel):
    """One milestone in an audience's feed, with its cursor (the SSE event id)."""

    model_config = ConfigDict(frozen=True)

    cursor: int = Field(ge=1, description="position in this audience's feed: 1, 2, 3, ... never reused")
    milestone: Milestone


class FeedPage(BaseModel):
    """A page of a feed. Ask for ``after=next`` to continue; an empty page means nothing new yet."""

    audience: str
    items: list[FeedItem]
    next: int = Field(ge=0, description="the cursor to pass as `after` for the next page")
    more: bool = Field(description="whether more items were already stored beyond this page")


def page_of(audience: str, after: int, items: list[FeedItem], limit: int) -> FeedPage:
    """``items`` holds up to ``limit + 1`` rows: the extra one only says that there is more."""
    shown = items[:limit]
    return FeedPage(audience=audience, items=shown, next=shown[-1].cursor if shown else after,
                    more=len(items) > limit)  # fmt: skip


def resume_point(after: int | None, last_event_id: str | None) -> int:
    """Where a stream starts: ``Last-Event-ID`` (sent by a reconnecting client) wins over ``?after=``,
    because a browser reconnects to the same URL with the original ``after`` and the newer header."""
    if last_event_id is None or not last_event_id.strip():
        return after or 0
    value = last_event_id.strip()
    if not value.isdigit() or int(value) > MAX_CURSOR:
        raise ValueError("Last-Event-ID must be a cursor of this feed (a whole number)")
    return int(value)
