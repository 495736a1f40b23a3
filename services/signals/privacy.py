"""Nothing about a tipster's connection goes further than the front door of the service.

:func:`front` wraps the whole service but load shedding (``ServiceDefinition.front``): before any span is opened,
any line is logged or any route runs, it removes from the request the client's address, its user agent, its
cookies, the page it came from and any forwarding header, in place (so the server's own access log, which reads
the same request scope, has nothing to print either). What it keeps is one opaque number for the rate limit: a
keyed hash of the address under a key that lives only in this process's memory and is replaced every
:data:`WINDOW_SECONDS`, so a bucket cannot be turned back into an address, and yesterday's cannot be linked to
today's. Nothing of it is ever written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

# Headers that say who or where the caller is (or could be used to follow them): never read, never passed on.
IDENTIFYING_HEADERS = frozenset(
    {b"user-agent", b"cookie", b"referer", b"x-forwarded-for", b"x-real-ip", b"forwarded", b"true-client-ip",
     b"cf-connecting-ip", b"sec-ch-ua", b"sec-ch-ua-mobile", b"sec-ch-ua-platform", b"from"}
)  # fmt: skip
BUCKET = "signals.bucket"  # the request scope's key of the rate-limit bucket
WINDOW_SECONDS = 3600.0
TIPS_PER_WINDOW = 5  # a person with more to tell in an hour can call the centre; a script cannot flood it


class RateLimit:
    """At most :data:`TIPS_PER_WINDOW` tips per bucket in a window, counted in memory only.

    The hash key and the counts are dropped together when the window turns: a fresh start for everyone, and
    no record of who sent what. (Per process: several replicas each count their own share, which is fine for
    abuse control and keeps the tipster's bucket off any shared store.)"""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._key = secrets.token_bytes(32)
        self._counts: defaultdict[str, int] = defaultdict(int)

    def _turn(self) -> None:
        if self._clock() - self._started >= WINDOW_SECONDS:
            self._started, self._key, self._counts = self._clock(), secrets.token_bytes(32), defaultdict(int)

    def bucket(self, address: str | None) -> str:
        self._turn()
        return hmac.new(self._key, (address or "").encode(), hashlib.sha256).hexdigest()

    def admit(self, bucket: str) -> bool:
        """Count one tip of ``bucket``; False when it has sent its share already (then nothing is counted)."""
        self._turn()
        if self._counts[bucket] >= TIPS_PER_WINDOW:
            return False
        self._counts[bucket] += 1
        return True

    def reset(self) -> None:
        self._started, self._key, self._counts = self._clock(), secrets.token_bytes(32), defaultdict(int)


LIMIT = RateLimit()


def front(app: Any) -> Any:
    """The ASGI wrapper that strips what identifies the caller (see the module's docstring)."""

    async def scrubbed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            scope.setdefault("state", {})[BUCKET] = LIMIT.bucket(client[0] if client else None)
            scope["client"] = None
            kept = [(k, v) for k, v in scope["headers"] if k.lower() not in IDENTIFYING_HEADERS]
            if isinstance(scope["headers"], list):
                scope["headers"][:] = kept  # in place: whoever holds the same scope sees them gone too
            else:
                scope["headers"] = kept
        await app(scope, receive, send)

    return scrubbed
