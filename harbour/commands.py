"""The command layer's policy, once for every service: how an HTTP command loads, decides and saves.

A service's ``services/<name>/commands.py`` holds its load–decide–save; every HTTP command runs it through
:func:`run_command`, and so, whatever the service:

* **one transaction**: the command's reads, its decision, its events (with their inline projections and
  timers) and its answer commit together, or nothing does;
* **queued** behind the other commands on what they contend for (``queue_on``: the case's file; keys learned
  only while deciding, such as housing's shelter networks, with :func:`queue`), so a burst on one case runs one
  after the other, each deciding on what the one before committed, instead of failing and retrying;
* **decided again from a fresh read** when a writer outside the queue (a handler, a timer) won a race, unless
  the client pinned ``expected_version``: then the conflict is the client's to see, a 409
  (:func:`check_version` before any rule is weighed; the store's version check is the backstop);
* **recorded with its Idempotency-Key** in that transaction (:mod:`harbour.idempotency`): a retry of a
  committed command gets the original answer.

A command that writes anything before its append (a person's key sealed or destroyed) takes the stream's append
lock first (:func:`lock_stream`, see its docstring): the queue keeps other commands out, the stream lock keeps
every writer out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager

from pydantic import BaseModel
from starlette.responses import Response

from harbour.aggregate import Aggregate
from harbour.db import Connection
from harbour.errors import ConcurrencyError
from harbour.idempotency import Answer, Keyed, KeyTaken, Work
from harbour.store.eventstore import lock_stream
from harbour.unit_of_work import QueueOn, queue, retrying

__all__ = ["Answer", "QueueOn", "Work", "check_version", "lock_stream", "queue", "run_command"]


async def run_command(
    pool_tx: Callable[[], AbstractAsyncContextManager[Connection]],
    work: Work,
    *,
    org: str,
    queue_on: QueueOn,
    expected_version: int | None = None,
    body: BaseModel | None = None,
    personal: Collection[str] = (),
    print_: str | None = None,
) -> Response:
    """Run a command's ``work(conn)`` under the policy above; the answer is a response sent as is.

    ``work`` decides, saves and returns the answer built from what it decided (a response model, an
    :class:`Answer` with a ``Location``, or None for a 204), inside the transaction: what the client is told is
    what commits, never a read made after the commit on another connection. ``queue_on`` is required: a
    command says what it contends for (None only for one that creates what it acts on, or that learns its
    keys while deciding). ``expected_version`` is the client's pinned version, if any (``work`` checks it
    with :func:`check_version`); ``org``, ``body``, ``personal`` and ``print_`` are the key's
    (:class:`harbour.idempotency.Keyed`).
    """
    keyed = Keyed(org=org, body=body, personal=personal, print_=print_)
    try:
        reply = await retrying(pool_tx, lambda conn: keyed.attempt(conn, work), retry=expected_version is None,
                               queue_on=queue_on)  # fmt: skip
    except KeyTaken:
        return await keyed.recorded_by_another(pool_tx)
    return keyed.response(reply)


def check_version(aggregate: Aggregate, expected: int | None) -> None:
    """A client that read version N and acts on it must not overwrite what happened since (409).

    Checked right after the load, before any rule is weighed: the rules would judge a state the client never
    saw. A version the client did not send is no check at all (the command is decided on what is there)."""
    if expected is not None and expected != aggregate.version:
        raise ConcurrencyError(aggregate.stream_id, expected, aggregate.version)
