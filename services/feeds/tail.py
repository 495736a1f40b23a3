"""One shared read per audience for the SSE streams of this process that are at the end of their feed.

Without it, a milestone woke every open stream of its audience and each read the feed table itself: with 500
streams of one audience, one milestone was 500 reads (a pooled connection, a query, a decode and an encode of
the same row each), and at 10 milestones a second the process fell seconds behind (bench/README.md,
"bench.audiences"). Here an audience's :class:`Tail` reads each new row once, frames it as an SSE event once, and
hands that same text to every :class:`Follower` of the audience.

A stream that is behind (resuming with ``Last-Event-ID`` or ``?after=``) first catches up with its own paged
reads, then joins. The join is gap-free by cursor: a follower starting at or beyond what the tail has read is
handed only the rows after its own cursor, and one slightly behind is handed the rows it missed from the few the
tail keeps; one further behind is refused and reads on by itself, then tries again.

A slow client never holds the others back: the tail only appends to each follower's bounded buffer, never
waits for a follower. A follower whose buffer is full is dropped from the tail (the row that did not fit is not
appended, so its buffer stays a contiguous run of cursors); its stream sends what it holds and then reads on by
itself from its last cursor, as a resuming stream does. Memory is bounded: a buffer holds at most
``BUFFER`` references to texts the followers share.

The tail keeps the stream's former guarantees: it takes the audience's waiter before each read (a commit after
the read wakes it), and it re-reads when ``heartbeat_seconds`` pass without a wake-up, in case a notification
was lost; then it also hands every follower a heartbeat comment, as each stream sent one when it had waited that
long. (One timer per audience, not one per stream: with 500 streams, a timer set and cancelled for every event
of every stream was a part of the cost.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from services.feeds import sse
from services.feeds.domain import FeedItem
from services.feeds.signal import FeedSignal

log = logging.getLogger("harbour.feeds.tail")

# Rows a follower may have waiting before it is dropped to its own reads: 25 s of a feed at 10 milestones a
# second. Each entry is a reference to a text all followers share, so 500 full buffers are a few MB at most.
BUFFER = 250
RECENT = 100  # rows the tail keeps after handing them on, for a stream that joins a little behind it
READ_BATCH = 200  # rows per read of the tail

ReadAfter = Callable[[str, int, int], Awaitable[list[FeedItem]]]  # (audience, after, limit) -> rows in order
HEARTBEAT = sse.comment("heartbeat").encode()


def frame(item: FeedItem) -> str:
    """A feed item as an SSE event: its cursor is the event id."""
    return sse.event(item.model_dump_json(), id=str(item.cursor), event="milestone")


class Follower:
    """One stream's place at its audience's tail: the framed rows handed to it and not yet sent, each with its
    cursor (a heartbeat carries the cursor of the row before it, so the last entry's cursor is always where the
    stream is once it has sent them)."""

    def __init__(self, tail: Tail, last: int) -> None:
        self.tail = tail
        self.last = last  # the cursor of the last row handed to this follower (or where it joined)
        self.pending: deque[tuple[int, bytes]] = deque()
        self.ready = asyncio.Event()  # set when rows are handed on, or the follower is dropped
        self.dropped = False  # its buffer overflowed, or the tail stopped: it reads on by itself

    def hand(self, cursor: int, text: bytes) -> bool:
        if len(self.pending) >= BUFFER:
            return False
        self.pending.append((cursor, text))
        self.last = cursor
        self.ready.set()
        return True

    def take(self) -> tuple[int, bytes]:
        """Everything waiting, as one write (a stream that fell behind catches up in fewer sends, not more),
        with the cursor of its last row."""
        cursor = self.pending[-1][0]
        text = b"".join(text for _, text in self.pending)
        self.pending.clear()
        return cursor, text

    def drop(self) -> None:
        self.dropped = True
        self.ready.set()

    def leave(self) -> None:
        self.tail.followers.discard(self)


class Tail:
    """The reader of one audience's new rows, shared by the followers of that audience in this process."""

    def __init__(self, tails: FeedTails, audience: str, last: int) -> None:
        self.tails = tails
        self.audience = audience
        self.last = last  # the cursor of the last row read (rows after it are unread)
        self.recent: deque[tuple[int, bytes]] = deque()
        self.floor = last  # every row after ``floor`` up to ``last`` is in ``recent``
        self.followers: set[Follower] = set()
        self.task: asyncio.Task[None] | None = None

    def join(self, last: int) -> Follower | None:
        """A follower that is handed every row after ``last``; None when the tail cannot give all of them."""
        if last < self.floor:
            return None  # rows after it were read and are no longer kept: the stream reads on by itself
        follower = Follower(self, last)
        for cursor, text in self.recent:
            if cursor > last:
                follower.hand(cursor, text)
        follower.last = max(last, self.last)
        self.followers.add(follower)
        return follower

    async def run(self) -> None:
        signal = self.tails.signal
        try:
            while not signal.closed:
                wake = signal.waiter(self.audience)  # before the read, so a commit after it wakes us
                items = await self.tails.read_after(self.audience, self.last, READ_BATCH)
                self._hand_on(items)
                if not self.followers:
                    return  # nobody left: the next stream to join starts a tail of its own
                if len(items) == READ_BATCH:
                    continue
                try:
                    async with asyncio.timeout(self.tails.heartbeat_seconds):
                        await wake.wait()
                except TimeoutError:
                    # A lost notification costs a heartbeat's delay, never a row: read again, then the heartbeat.
                    self._hand_on(await self.tails.read_after(self.audience, self.last, READ_BATCH))
                    for follower in self.followers:
                        follower.hand(follower.last, HEARTBEAT)  # skipped when full: the next row drops it
        except asyncio.CancelledError:
            raise
        except Exception:
            # The read failed (the database went away, say): each stream reads by itself again, and meets the
            # failure on its own connection, as it did before the streams shared a read.
            log.warning("the feed tail of %s stopped; its streams read by themselves", self.audience, exc_info=True)
        finally:
            self.tails.forget(self)
            for follower in self.followers:
                follower.drop()
            self.followers.clear()

    def _hand_on(self, items: list[FeedItem]) -> None:
        for item in items:  # rows after ``last``, in order of cursor
            text = frame(item).encode()  # framed and encoded once for every follower
            self.last = item.cursor
            self.recent.append((item.cursor, text))
            if len(self.recent) > RECENT:
                self.floor = self.recent.popleft()[0]
            for follower in list(self.followers):
                if item.cursor > follower.last and not follower.hand(item.cursor, text):
                    # Full: a client that does not read. It is dropped rather than waited for or grown.
                    self.followers.discard(follower)
                    follower.drop()
                    self.tails.overflows += 1


class FeedTails:
    """The tails of a process, one per audience that has a stream at its end."""

    def __init__(self, signal: FeedSignal, read_after: ReadAfter, *, heartbeat_seconds: float) -> None:
        self.signal = signal
        self.read_after = read_after
        self.heartbeat_seconds = heartbeat_seconds
        self._tails: dict[str, Tail] = {}
        self.overflows = 0  # followers dropped because their buffer was full (tests and logs read it)

    def join(self, audience: str, last: int) -> Follower | None:
        """Follow ``audience`` after cursor ``last`` (a stream's last sent row, just read by the stream itself)."""
        if self.signal.closed:
            return None
        tail = self._tails.get(audience)
        if tail is None:
            tail = Tail(self, audience, last)
            tail.task = asyncio.create_task(tail.run(), name=f"feeds:tail:{audience}")
            self._tails[audience] = tail
        return tail.join(last)

    def forget(self, tail: Tail) -> None:
        if self._tails.get(tail.audience) is tail:
            del self._tails[tail.audience]

    async def close(self) -> None:
        tasks = [t.task for t in self._tails.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
