"""Server-sent events framing (the WHATWG HTML "event stream" format), written by hand: no SSE library here.

An event is ``id:``, ``event:`` and one ``data:`` line per line of its data, ended by a blank line. A line
starting with ``:`` is a comment: clients ignore it, and proxies see traffic, so an idle stream stays open.
"""

from __future__ import annotations

MEDIA_TYPE = "text/event-stream"
# Caches and buffering proxies (nginx's X-Accel-Buffering) would hold events back or replay stale ones.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _single_line(value: str, name: str) -> str:
    # A newline in an id or event name would start a field of its own: refuse rather than corrupt the stream.
    if "\n" in value or "\r" in value:
        raise ValueError(f"an SSE {name} cannot span lines")
    return value


def event(data: str, *, id: str | None = None, event: str | None = None) -> str:
    lines = []
    if id is not None:
        lines.append(f"id: {_single_line(id, 'id')}")
    if event is not None:
        lines.append(f"event: {_single_line(event, 'event name')}")
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


def comment(text: str) -> str:
    return f": {_single_line(text, 'comment')}\n\n"


def retry(milliseconds: int) -> str:
    """How long a client waits before reconnecting after the connection drops."""
    return f"retry: {milliseconds}\n\n"
