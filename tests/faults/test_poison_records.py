"""Poison records: whatever a record on a subscribed topic holds, it never blocks a partition.

Every record a consumer cannot use goes to ``<topic>.dlq`` with its reason, once per consumer that failed
it, and the partition moves on: the good record published after it is applied, exactly once. Records are
put on the topics with a raw aiokafka producer, so that nothing of Harbour's own publishing smooths them.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harbour.db import drop_database
from harbour.kafka.consumer import HandlerContext, InboxConsumer, Subscription
from harbour.kafka.topics import TopicSpec, consumed_topics, ensure_topics, register_topics
from harbour.pii import Sealed
from harbour.store import RecordedEvent
from harbour_tools import ops
from schemas.housing import HousingKind, PersonMoved
from schemas.intake import Centre, Region
from schemas.legal import DocumentIssued, ResidenceDocument
from schemas.signals import TipSubmitted
from schemas.tracks import TransferAccepted
from services.feeds.app import DEFINITION as FEEDS
from services.feeds.domain import audience_of_topic
from services.housing.app import DEFINITION as HOUSING
from services.intake.app import DEFINITION as INTAKE
from services.legal.app import DEFINITION as LEGAL
from services.tracks.app import DEFINITION as TRACKS
from tests.support.harness import RunningService, fast_settings, running_service, running_services
from tests.support.pantry import ShelfStocked
from tests.support.pantry_service import LARDER, count_stock
from tests.support.poison import (
    DOMAIN_KINDS,
    LARGE_KINDS,
    MILESTONE_KINDS,
    OVERSIZED,
    LetterWatch,
    Record,
    Sent,
    admits,
    case_opened,
    committed_offset,
    domain_poison,
    good_event,
    good_milestone,
    inbox_counts,
    letters_by_origin,
    milestone_poison,
    named_poison,
    read_all,
    send_all,
    wait_for,
)

pytestmark = pytest.mark.integration

SENT: list[Sent] = []  # everything this module put on the topics (the module has a broker of its own)
# Short group timeouts: every service here forms its groups in a second or so, and re-forms them after a stop.
FAST_GROUPS = fast_settings(consumer_session_timeout_ms=2000, consumer_heartbeat_ms=200,
                            consumer_rebalance_timeout_ms=500)  # fmt: skip

INTAKE_TOPIC = "intake.events.v1"


async def test_a_record_labelled_json_that_is_not_json_goes_to_the_dead_letter_topic_and_the_partition_moves_on(
    pg_server_url, running_broker
):
    bootstrap = running_broker.bootstrap
    case = f"case-{uuid.uuid4().hex[:8]}"
    # The same key as the good record after it: one partition, so a consumer stuck on the poison never gets there.
    poison = Record(INTAKE_TOPIC, b"\xff{this is not json", case.encode(),
                    [("content-type", b"application/json"), ("event_type", b"CaseOpened")], good=False)  # fmt: skip
    good = good_event(INTAKE_TOPIC, case_opened(case), case)
    async with running_service(LEGAL, pg_server_url=pg_server_url, bootstrap=bootstrap) as legal:
        consumers = {c.subscription.consumer for c in legal.runtime.consumers if c.subscription.topic == INTAKE_TOPIC}
        sent_poison, sent_good = await send_all(bootstrap, [poison, good])
        SENT.extend([sent_poison, sent_good])

        async def applied() -> bool:
            return len(await inbox_counts(legal.runtime.pool, [good.message_id])) == len(consumers)

        passed = await wait_for(applied, timeout=30)
        counts = await inbox_counts(legal.runtime.pool, [good.message_id])
        assert passed, f"{len(consumers) - len(counts)} of {len(consumers)} consumer groups stalled at the poison"
        assert set(counts.values()) == {1}
        letters = letters_by_origin(await read_all(bootstrap, [f"{INTAKE_TOPIC}.dlq"]))
        mine = {k: n for k, n in letters.items() if k[1:3] == (sent_poison.partition, sent_poison.offset)}
        assert mine == {(INTAKE_TOPIC, sent_poison.partition, sent_poison.offset, c): 1 for c in consumers}


# --------------------------------------------------------------------------------------------- parking by hand


PARK_PARTITION = 3


async def test_an_operator_parks_the_record_a_stopped_group_stands_at_and_the_group_resumes_after_it(
    pg_server_url, running_broker
):
    bootstrap = running_broker.bootstrap
    settings = FAST_GROUPS.model_copy(update={"consumer_group_suffix": f".park-{uuid.uuid4().hex[:6]}"})
    database = f"harbour_test_legal_park_{uuid.uuid4().hex[:8]}"
    parked_consumer, other = "legal.case-opened", "legal.case-audiences.intake"
    group = parked_consumer + settings.consumer_group_suffix
    run = uuid.uuid4().hex[:6]
    before, stuck, after = (
        good_event(INTAKE_TOPIC, case_opened(f"park-{run}-{i}"), f"park-{run}-{i}") for i in range(3)
    )
    try:
        async with running_service(LEGAL, pg_server_url=pg_server_url, bootstrap=bootstrap, settings=settings,
                                   database=database, keep_database=True) as legal:  # fmt: skip
            [first] = await send_all(bootstrap, [before], partitions=[PARK_PARTITION])
            SENT.append(first)

            async def caught_up() -> bool:
                applied = len(await inbox_counts(legal.runtime.pool, [before.message_id])) == 2
                return applied and await committed_offset(bootstrap, group, INTAKE_TOPIC, PARK_PARTITION) == (
                    first.offset + 1)  # fmt: skip

            assert await wait_for(caught_up, timeout=60), "legal never committed the record before the one to park"
        # The service is stopped. The record the operator wants out of the way (say it crashes the process),
        # and one after it.
        sent_stuck, sent_after = await send_all(bootstrap, [stuck, after], partitions=[PARK_PARTITION] * 2)
        SENT.extend([sent_stuck, sent_after])
        assert sent_stuck.offset == first.offset + 1

        with pytest.raises(ops.ParkRefused, match="committed offset"):  # the group stands at the stuck record
            await ops.park(bootstrap, INTAKE_TOPIC, PARK_PARTITION, sent_after.offset, parked_consumer, settings)
        parked = await ops.park(bootstrap, INTAKE_TOPIC, PARK_PARTITION, sent_stuck.offset, parked_consumer, settings,
                                note="INC-42: crashes the handler")  # fmt: skip
        assert (parked.committed_before, parked.committed_after, parked.already) == (
            sent_stuck.offset, sent_stuck.offset + 1, False)  # fmt: skip
        letter = parked.letter
        assert (letter.original_topic, letter.original_partition, letter.original_offset, letter.consumer) == (
            INTAKE_TOPIC, PARK_PARTITION, sent_stuck.offset, parked_consumer)  # fmt: skip
        assert (letter.reason, letter.error_type, letter.error_message) == (
            "parked", "ParkedByOperator", "INC-42: crashes the handler")  # fmt: skip
        with pytest.raises(ops.ParkRefused, match="committed offset"):  # parked once: the group is past it now
            await ops.park(bootstrap, INTAKE_TOPIC, PARK_PARTITION, sent_stuck.offset, parked_consumer, settings)

        async with running_service(LEGAL, pg_server_url=pg_server_url, bootstrap=bootstrap, settings=settings,
                                   database=database, keep_database=True) as legal:  # fmt: skip

            async def resumed() -> bool:
                return len(await inbox_counts(legal.runtime.pool, [after.message_id])) == 2

            assert await wait_for(resumed, timeout=60), "the group did not resume after the parked record"
            applied = await inbox_counts(legal.runtime.pool, [before.message_id, stuck.message_id, after.message_id])
    finally:
        await drop_database(pg_server_url, database)
    assert applied == Counter({
        (parked_consumer, before.message_id): 1, (other, before.message_id): 1, (other, stuck.message_id): 1,
        (parked_consumer, after.message_id): 1, (other, after.message_id): 1,
    }), "the parked group skipped exactly the parked record; the other group applied all three"  # fmt: skip
    letters = [d for d in await ops.list_dead_letters(bootstrap, [f"{INTAKE_TOPIC}.dlq"])
               if (d.original_partition, d.original_offset) == (PARK_PARTITION, sent_stuck.offset)]  # fmt: skip
    assert [(d.consumer, d.reason) for d in letters] == [(parked_consumer, "parked")], "one letter, with its reason"


# --------------------------------------------------------------------------------------------- every consumer

DEFINITIONS = (INTAKE, LEGAL, TRACKS, HOUSING, FEEDS)
# How many random poison records hypothesis adds per topic in each example, besides the named ones (_batch).
RANDOM_PER_DOMAIN_TOPIC = 6
RANDOM_PER_AUDIENCE_TOPIC = 1
NAMED_PER_AUDIENCE_TOPIC = 1
EXAMPLES = 2


@dataclass
class Platform:
    services: dict[str, RunningService]
    consumers: list[InboxConsumer]
    runs: list[dict[str, int]] = field(default_factory=list)  # the figures of each example

    def topics(self) -> list[str]:
        return sorted({c.subscription.topic for c in self.consumers})

    def readers(self, topic: str) -> list[InboxConsumer]:
        return [c for c in self.consumers if c.subscription.topic == topic]


@pytest.fixture(scope="module")
async def platform(pg_server_url, broker) -> AsyncIterator[Platform]:
    """Every service that consumes, started once for the module (each example shares them), on its own broker."""
    starts = {d.name: running_service(d, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, settings=FAST_GROUPS)
              for d in DEFINITIONS}  # fmt: skip
    async with running_services(starts) as services:
        consumers = [c for s in services.values() for c in s.runtime.consumers]
        yield Platform(services, consumers)


def _good(topic: str, case: str) -> Record:
    """A good record for ``topic`` that every reader of it applies without any setup."""
    if topic == "intake.events.v1":
        return good_event(topic, case_opened(case), case)
    if topic == "legal.events.v1":
        issued = DocumentIssued(case_id=case, document=ResidenceDocument.ANNEX_15, decided_on=date(2026, 1, 6),
                                starts_on=date(2026, 1, 6), ends_on=date(2026, 2, 20))  # fmt: skip
        return good_event(topic, issued, case)
    if topic == "tracks.events.v1":
        transfer = TransferAccepted(case_id=case, from_centre=Centre.PAYOKE, to_centre=Centre.SURYA,
                                    caseworker_id="cw-poison", accepted_on=date(2026, 2, 1))  # fmt: skip
        return good_event(topic, transfer, case)
    if topic == "housing.events.v1":
        return good_event(topic, PersonMoved(case_id=case, to=HousingKind.INDEPENDENT, on=date(2026, 2, 2)), case)
    if topic == "signals.events.v1":
        told = Sealed(person_id=f"tip-{case}", key_version=1, nonce="bm9uY2U=", ciphertext="Y2lwaGVy")
        tip = TipSubmitted(tip_id=case, postcode="2000", region=Region.FLANDERS, centre=Centre.PAYOKE,
                           catalogue_version="signals-v1", description=told, submitted_on=date(2026, 1, 5))  # fmt: skip
        return good_event(topic, tip, case)
    return good_milestone(topic, audience_of_topic(topic), f"ref-{case}")


def _partitions(topic: str) -> int:
    # consumed_topics knows the domain topics of services this process does not run (signals: intake reads it).
    return next(t.partitions for t in consumed_topics([topic]) if t.name == topic)


def _placement(topic: str, count: int) -> list[int | None]:
    """Where a batch's records go: the closing good records one on each partition, the others by key."""
    return [None] * (count - _partitions(topic)) + list(range(_partitions(topic)))


def _batch(data: st.DataObject, topic: str, index: int, run: str) -> list[Record]:
    """A good record, named poison, random poison in a random order, then a good record on every partition (so
    that a partition stalled by any of the poison shows as a good record never applied).

    Domain topics get one of every named kind; each audience topic gets a few named kinds in turn (all of them
    over the forty topics; the large ones on two topics only: forty megabytes of letters say nothing more)."""
    first = _good(topic, f"{run}-first")
    if topic in DOMAIN:
        named = [named_poison(topic, first, k) for k in DOMAIN_KINDS]
        strategy = domain_poison(topic, first)
        count = RANDOM_PER_DOMAIN_TOPIC
    else:
        stray = _good(STRAY_TOPIC if topic != STRAY_TOPIC else DOMAIN_AUDIENCE_TOPIC, f"{run}-stray")
        small = [k for k in MILESTONE_KINDS if k not in LARGE_KINDS]
        kinds = [small[(index * NAMED_PER_AUDIENCE_TOPIC + n) % len(small)] for n in range(NAMED_PER_AUDIENCE_TOPIC)]
        kinds += list(LARGE_KINDS) if topic in LARGE_AUDIENCE_TOPICS else []
        named = [named_poison(topic, first, k, stray=stray) for k in kinds]
        strategy = milestone_poison(topic, first, stray)
        count = RANDOM_PER_AUDIENCE_TOPIC
    randoms = data.draw(st.lists(strategy, min_size=count, max_size=count), label=f"{topic} random")
    poison = named + randoms
    order = data.draw(st.permutations(range(len(poison))), label=f"{topic} order")
    closing = [_good(topic, f"{run}-last-{p}") for p in range(_partitions(topic))]
    return [first, *(poison[i] for i in order), *closing]


DOMAIN = ("intake.events.v1", "legal.events.v1", "tracks.events.v1", "housing.events.v1", "signals.events.v1")
STRAY_TOPIC = "milestones.centre-payoke.v1"
DOMAIN_AUDIENCE_TOPIC = "milestones.police-federal.v1"
LARGE_AUDIENCE_TOPICS = ("milestones.prosecution-antwerp.v1", "milestones.immigration-office.v1")


@settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.generate], derandomize=False,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(data=st.data())
async def test_poison_of_every_kind_on_every_subscribed_topic_is_dead_lettered_once_and_no_consumer_stalls(
    platform: Platform, data: st.DataObject
):
    started = time.monotonic()
    bootstrap = platform.services["legal"].runtime.endpoints.bootstrap
    run = uuid.uuid4().hex[:8]
    batches = {topic: _batch(data, topic, i, run) for i, topic in enumerate(platform.topics())}
    generated = time.monotonic()
    assert set(DOMAIN) | {STRAY_TOPIC, DOMAIN_AUDIENCE_TOPIC, *LARGE_AUDIENCE_TOPICS} <= set(batches)
    dlqs = [f"{t}.dlq" for t in batches]
    async with LetterWatch(bootstrap, dlqs) as watch:
        records = [r for batch in batches.values() for r in batch]
        partitions = [p for topic, batch in batches.items() for p in _placement(topic, len(batch))]
        sent = await send_all(bootstrap, records, partitions=partitions)
        SENT.extend(sent)
        published = time.monotonic()

        # The expectations, from the subscriptions: each good record applied once by every reader that reads its
        # type; each poison record dead-lettered once by every reader that must look at it (see ``admits``).
        expected_inbox = Counter()
        expected_letters = Counter()
        for s in sent:
            for reader in platform.readers(s.record.topic):
                sub = reader.subscription
                types = None if sub.raw else sub.event_types
                if s.record.good and admits(types, s.record.headers):
                    expected_inbox[(sub.consumer, s.record.message_id)] += 1
                elif not s.record.good and admits(types, s.record.headers):
                    expected_letters[(s.record.topic, s.partition, s.offset, sub.consumer)] += 1
        good_ids = [s.record.message_id for s in sent if s.record.good]
        mine = {(s.record.topic, s.partition, s.offset) for s in sent}

        async def inbox() -> Counter:
            found: Counter = Counter()
            for service in platform.services.values():
                found += await inbox_counts(service.runtime.pool, good_ids)
            return found

        async def letters() -> Counter:
            return Counter({k: n for k, n in (await watch.poll()).items() if k[:3] in mine})

        async def done() -> bool:
            # Letters first: a good record applied says the poison before it was handled, so its letter is out.
            return (
                sum((await letters()).values()) >= sum(expected_letters.values()) and (await inbox()) == expected_inbox
            )

        finished = await wait_for(done, timeout=90, interval=0.5)
        applied, lettered = await inbox(), await letters()
    missing = {k for k in expected_inbox if k not in applied}
    stalled = sorted({consumer for consumer, _ in missing})
    short = Counter(k[3] for k in set(expected_letters) - set(lettered))
    assert finished, (f"{len(missing)} of {len(expected_inbox)} good records never applied (stalled: {stalled}); "
                      f"{sum(lettered.values())} of {sum(expected_letters.values())} dead letters (missing by "
                      f"consumer: {dict(short)})")  # fmt: skip
    assert applied == expected_inbox, "every good record applied exactly once by every consumer that reads it"
    duplicates = {k: n for k, n in lettered.items() if n > 1}
    assert not duplicates, f"dead-lettered more than once: {duplicates}"
    assert lettered == expected_letters, (
        f"missing letters: {sorted(set(expected_letters) - set(lettered))[:5]}, "
        f"unexpected: {sorted(set(lettered) - set(expected_letters))[:5]}"
    )
    # `harbour dlq list` reads every one of them, whatever headers they carry, with its reason.
    listed = [d for d in await ops.list_dead_letters(bootstrap, dlqs)
              if (d.original_topic, d.original_partition, d.original_offset) in mine]  # fmt: skip
    assert len(listed) == sum(expected_letters.values()) and {d.reason for d in listed} == {"poison"}
    oversized = {(s.record.topic, s.partition, s.offset) for s in sent if len(s.record.value or b"") >= OVERSIZED}
    assert oversized and {(d.original_topic, d.original_partition, d.original_offset) for d in listed
                          if d.omitted == "value"} == oversized, "letters too large go without their value"  # fmt: skip
    # What the feeds stored: each good milestone once, and nothing else of this run.
    milestone_ids = [s.record.message_id for s in sent if s.record.good and s.record.topic.startswith("milestones.")]
    async with platform.services["feeds"].runtime.pool.acquire() as conn:
        stored = Counter(await conn.fetchval(
            "SELECT array_agg(milestone_id) FROM feed_milestones WHERE milestone_id = ANY($1::uuid[])", milestone_ids,
        ) or [])  # fmt: skip
    assert stored == Counter(milestone_ids), "each good milestone in its feed exactly once"
    # Nothing answered a record's reply_to: the domain topics hold only what the test and the relays put there
    # (intake's relay publishes the lead each good tip opened: an event of intake's own store, by its id).
    on_intake = await read_all(bootstrap, ["intake.events.v1"], quiet_ms=300)
    ours = {(s.partition, s.offset) for s in SENT if s.record.topic == "intake.events.v1"}
    relayed = [r for r in on_intake if (r.partition, r.offset) not in ours]
    relayed_ids = [dict(r.headers or []).get("event_id", b"").decode(errors="replace") for r in relayed]
    async with platform.services["intake"].runtime.pool.acquire() as conn:
        stored_ids = {str(i) for i in await conn.fetchval("SELECT array_agg(event_id) FROM events") or []}
    assert ours <= {(r.partition, r.offset) for r in on_intake}
    assert set(relayed_ids) <= stored_ids and len(set(relayed_ids)) == len(relayed_ids), "relayed: intake's own, once"
    platform.runs.append({
        "topics": len(batches), "records": len(sent), "good": sum(1 for s in sent if s.record.good),
        "poison": sum(1 for s in sent if not s.record.good), "letters": sum(lettered.values()),
        "inbox rows": sum(applied.values()), "seconds": round(time.monotonic() - started, 1),
        "generating": round(generated - started, 1), "publishing": round(published - generated, 1),
    })  # fmt: skip
    print("poison run:", platform.runs[-1])


# --------------------------------------------------------------------------------------------- failing handlers

# A topic per test: a larder reads its topic from the beginning, and must not meet the other test's records.
LOOP_TOPIC = TopicSpec(f"poison-loop.{uuid.uuid4().hex[:6]}.events.v1", 1, "case id")
OUTAGE_TOPIC = TopicSpec(f"poison-outage.{uuid.uuid4().hex[:6]}.events.v1", 1, "case id")
register_topics([LOOP_TOPIC, OUTAGE_TOPIC])
CALLS: Counter[str] = Counter()
PAUSE: dict[str, object] = {}


async def _count_or_fail(ctx: HandlerContext, event: RecordedEvent) -> None:
    """Counts stock, except for two items: one whose every attempt fails with a driver error (the kind that
    also means "the database is away"), one whose last attempt pauses the broker before the dead letter goes."""
    stocked = event.event
    assert isinstance(stocked, ShelfStocked)
    CALLS[stocked.item] += 1
    if stocked.item == "bad-argument":
        # A handler bug the driver reports as an asyncpg.InterfaceError (a query short of an argument), the
        # error type that also says "the connection is gone": on every delivery.
        await ctx.conn.fetchval("SELECT $1::int")
    if stocked.item == "outage":
        if CALLS["outage"] == ctx.runtime.settings.consumer_max_attempts:
            os.kill(PAUSE["pid"], signal.SIGSTOP)  # type: ignore[arg-type]  # the dead letter is next
        raise RuntimeError("this item can never be counted")
    await count_stock(ctx, event)


def _stock(topic: TopicSpec, shelf: str, item: str) -> Record:
    return good_event(topic.name, ShelfStocked(shelf_id=shelf, item=item, count=1, unit="kg"), f"case-{shelf}")


async def _larder(pg_server_url: str, bootstrap: str, topic: TopicSpec):
    sub = Subscription(topic=topic.name, consumer="larder.count-or-fail", handle=_count_or_fail,
                       event_types=frozenset({ShelfStocked.event_type}))  # fmt: skip
    definition = dataclasses.replace(LARDER, subscriptions=[sub])
    await ensure_topics(bootstrap, [topic, topic.dlq])
    return running_service(definition, pg_server_url=pg_server_url, bootstrap=bootstrap)


async def _tally(larder: RunningService, shelf: str) -> int:
    async with larder.runtime.pool.acquire() as conn:
        return await conn.fetchval("SELECT coalesce(sum(total), 0) FROM tallies WHERE shelf_id = $1", shelf)


async def test_a_record_whose_handler_keeps_failing_with_a_driver_error_while_the_database_answers_is_dead_lettered(
    pg_server_url, running_broker
):
    # Before: an InterfaceError was taken for "the database is away" on its type alone, and the record sent back
    # unacknowledged, forever. Now the database is asked, it answers, and the attempts are counted.
    shelf = f"loop-{uuid.uuid4().hex[:6]}"
    CALLS.clear()
    async with await _larder(pg_server_url, running_broker.bootstrap, LOOP_TOPIC) as larder:
        bad, good = _stock(LOOP_TOPIC, shelf, "bad-argument"), _stock(LOOP_TOPIC, shelf, "rice")
        async with LetterWatch(running_broker.bootstrap, [LOOP_TOPIC.dlq.name]) as watch:
            sent_bad, _ = await send_all(running_broker.bootstrap, [bad, good])

            async def counted() -> bool:
                return await _tally(larder, shelf) == 1

            assert await wait_for(counted, timeout=60), f"stalled after {CALLS['bad-argument']} attempts"
            letters = await watch.poll()
        budget = larder.settings.consumer_max_attempts + 5
        assert CALLS["bad-argument"] == budget, "bounded: a few more attempts than a plain failure, then a letter"
        assert letters == {(LOOP_TOPIC.name, sent_bad.partition, sent_bad.offset, "larder.count-or-fail"): 1}
        [letter] = watch.records
        h = {k: (v or b"").decode() for k, v in letter.headers}
        assert (h["dlq.reason"], h["dlq.error_type"], h["dlq.error_message"]) == (
            "handler-failed", "InterfaceError", "InterfaceError")  # fmt: skip


async def test_a_broker_outage_while_dead_lettering_loses_nothing(pg_server_url, running_broker):
    shelf = f"outage-{uuid.uuid4().hex[:6]}"
    CALLS.clear()
    PAUSE["pid"] = running_broker.pid
    try:
        async with await _larder(pg_server_url, running_broker.bootstrap, OUTAGE_TOPIC) as larder:
            [consumer] = larder.runtime.consumers
            bad, good = _stock(OUTAGE_TOPIC, shelf, "outage"), _stock(OUTAGE_TOPIC, shelf, "rice")
            async with LetterWatch(running_broker.bootstrap, [OUTAGE_TOPIC.dlq.name]) as watch:
                sent_bad, _ = await send_all(running_broker.bootstrap, [bad, good])

                async def refused() -> bool:  # the broker is paused: the letter was not acknowledged
                    return consumer.dead_letter_failures >= 1

                assert await wait_for(refused, timeout=60), "the handler never reached its last attempt"
                assert consumer.dead_lettered == 0 and await _tally(larder, shelf) == 0, "nothing passed it"
                os.kill(running_broker.pid, signal.SIGCONT)

                async def counted() -> bool:
                    return await _tally(larder, shelf) == 1

                assert await wait_for(counted, timeout=90), "the partition did not move on after the outage"
                key = (OUTAGE_TOPIC.name, sent_bad.partition, sent_bad.offset, "larder.count-or-fail")

                async def lettered() -> bool:
                    # Polled until it comes, not once: the watch's own connection to the broker went stale in the
                    # pause, and its first polls after it may come back empty while it reconnects (a CI run).
                    return (await watch.poll())[key] >= 1

                await wait_for(lettered, timeout=60)
                letters = await watch.poll()
    finally:
        os.kill(running_broker.pid, signal.SIGCONT)
    mine = letters[(OUTAGE_TOPIC.name, sent_bad.partition, sent_bad.offset, "larder.count-or-fail")]
    # At least once: the letter whose acknowledgement the outage swallowed may have been written as well.
    assert 1 <= mine <= 2, f"{mine} letters"
    print(f"outage: {consumer.dead_letter_failures} unacknowledged letter publishes, {mine} letter(s)")
