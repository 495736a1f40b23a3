"""Tracks decides a transfer between centres (issue 13): requested by the owner's manager, accepted or declined by
the receiving centre's manager, withdrawn by the owner's, chained A → B → C. At every point exactly one centre can
act on the track; a former owner reads its own period; a centre that never had the track gets 404.

Real tracks service and PostgreSQL; intake's CaseOpened is a real event of the intake stand-in, handed to the
tracks handler as its inbox consumer would (``kafka=False``: no consumer group to join, a fast start).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from harbour_tools.infra import BrokerProcess
from tests.support.custody_contract import CENTRES, CustodyContract
from tests.support.tracks_env import TracksEnv, tracks_env

pytestmark = pytest.mark.integration
PAYOKE, PAG_ASA, SURYA = CENTRES
IMPLAUSIBLE_SESSION = {"held_on": "2001-03-01", "area": "psychosocial", "kind": "phone", "duration_minutes": 10,
                       "attended": True}  # fmt: skip


@pytest.fixture(scope="module")
async def env(pg_server_url: str, broker: BrokerProcess) -> AsyncIterator[TracksEnv]:
    if not broker.is_running:
        broker.start()
    async with tracks_env(pg_server_url, broker.bootstrap, kafka=False) as running:
        yield running


async def act(env: TracksEnv, case_id: str, centre: str, role: str = "caseworker") -> int:
    """A session dated 2001: through the access gate it breaks a date rule (422) and changes nothing."""
    r = await env.svc.client.post(f"/tracks/{case_id}/sessions", json=IMPLAUSIBLE_SESSION,
                                  headers=env.auth(centre, role))  # fmt: skip
    if r.status_code == 422:
        assert (r.json()["field"], r.json()["rule"]) == ("held_on", "session-not-before-track-opened"), r.text
    return r.status_code


class TestTracksCustody(CustodyContract):
    """The shared custody promise (tests/support/custody_contract.py), held by tracks, which decides transfers.

    ``redeliver_transfers``: tracks consumes no transfer, it decides them over HTTP. Its redelivery is the
    receiving manager's accept sent again with the same ``Idempotency-Key`` (a client that lost the answer),
    newest first and the oldest last: each is answered as the first time (``Idempotent-Replayed``) and records
    nothing, even from a centre that has since handed the track on.
    """

    @pytest.fixture(autouse=True)
    def _env(self, env: TracksEnv) -> None:
        self.env = env
        self.accepts: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}

    def new_case_id(self) -> str:
        return f"case-{uuid.uuid4().hex[:10]}"

    async def open_case(self, case_id: str, centre: str) -> None:
        await self.env.open_case(centre=centre, case_id=case_id)

    async def transfer(self, case_id: str, from_centre: str, to_centre: str) -> None:
        await self.env.post(f"/tracks/{case_id}/transfer", {"to_centre": to_centre, "reason": "person-relocated"},
                            from_centre, "manager")  # fmt: skip
        key, body = uuid.uuid4().hex, {"caseworker_id": "cw-new"}
        headers = {**self.env.auth(to_centre, "manager"), "Idempotency-Key": key}
        r = await self.env.svc.client.post(f"/tracks/{case_id}/transfer/accept", json=body, headers=headers)
        assert r.status_code == 200 and r.json()["owning_centre"] == to_centre, r.text
        self.accepts.setdefault(case_id, []).append((to_centre, key, body))

    async def redeliver_transfers(self, case_id: str) -> None:
        before = await self.env.types(case_id)
        for centre, key, body in reversed(self.accepts[case_id]):
            headers = {**self.env.auth(centre, "manager"), "Idempotency-Key": key}
            r = await self.env.svc.client.post(f"/tracks/{case_id}/transfer/accept", json=body, headers=headers)
            assert r.status_code == 200 and r.headers.get("Idempotent-Replayed") == "true", r.text
            assert r.json()["owning_centre"] == centre  # the answer it was given then
        assert await self.env.types(case_id) == before, "a replayed acceptance recorded something"

    async def act(self, case_id: str, centre: str) -> int:
        return await act(self.env, case_id, centre)

    async def record(self, case_id: str, centre: str) -> Any:
        session_id = f"s-{uuid.uuid4().hex[:8]}"
        body = {**IMPLAUSIBLE_SESSION, "session_id": session_id, "held_on": str(self.env.today)}
        await self.env.post(f"/tracks/{case_id}/sessions", body, centre, expect=201)
        return session_id

    async def history(self, case_id: str, centre: str) -> list[Any] | None:
        r = await self.env.svc.client.get(f"/tracks/{case_id}/timeline", headers=self.env.auth(centre))
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return [e["facts"]["session_id"] for e in r.json()["items"] if e["event_type"] == "SessionRecorded"]


# -- transfers decided, declined, withdrawn, chained: one acting centre at every point --------------------


class Model:
    """What the track's custody should be: the owner, the pending receiver, the centres that ever owned it."""

    def __init__(self, owner: str) -> None:
        self.owner, self.pending, self.owned = owner, None, {owner}
        self.counts = {"TransferRequested": 0, "TransferAccepted": 0, "TransferDeclined": 0, "TransferWithdrawn": 0}

    def expected(self, centre: str) -> int:
        if centre == self.owner:
            return 422
        return 403 if centre in self.owned or centre == self.pending else 404


async def check_one_acting(env: TracksEnv, case_id: str, model: Model) -> None:
    for role in ("caseworker", "manager"):
        statuses = {c: await act(env, case_id, c, role) for c in CENTRES}
        assert statuses == {c: model.expected(c) for c in CENTRES}, (role, model.__dict__)
        assert [c for c, s in statuses.items() if s == 422] == [model.owner]
    types = await env.types(case_id)
    assert {t: types.count(t) for t in model.counts} == model.counts


async def step(env: TracksEnv, case_id: str, model: Model, op: str, to: str | None = None) -> None:
    base = f"/tracks/{case_id}/transfer"
    if op == "request":
        assert to is not None
        await env.post(base, {"to_centre": to, "reason": "safety"}, model.owner, "manager")
        model.pending, model.counts["TransferRequested"] = to, model.counts["TransferRequested"] + 1
    elif op == "accept":
        assert model.pending is not None
        await env.post(f"{base}/accept", {"caseworker_id": "cw-2"}, model.pending, "manager")
        model.owner, model.pending = model.pending, None
        model.owned.add(model.owner)
        model.counts["TransferAccepted"] += 1
    elif op == "decline":
        assert model.pending is not None
        await env.post(f"{base}/decline", {"reason": "no-capacity"}, model.pending, "manager")
        model.pending, model.counts["TransferDeclined"] = None, model.counts["TransferDeclined"] + 1
    elif op == "withdraw":
        await env.post(f"{base}/withdraw", None, model.owner, "manager")
        model.pending, model.counts["TransferWithdrawn"] = None, model.counts["TransferWithdrawn"] + 1
    await check_one_acting(env, case_id, model)


async def test_declined_withdrawn_and_chained_transfers_leave_exactly_one_centre_acting_at_every_step(env):
    case_id, _ = await env.open_case(centre=PAYOKE)
    model = Model(PAYOKE)
    await check_one_acting(env, case_id, model)
    for op, to in (("request", PAG_ASA), ("decline", None), ("request", SURYA), ("withdraw", None),
                   ("request", PAG_ASA), ("accept", None), ("request", SURYA), ("accept", None),
                   ("request", PAYOKE), ("decline", None), ("request", PAYOKE), ("accept", None)):  # fmt: skip
        await step(env, case_id, model, op, to)
    assert model.counts == {"TransferRequested": 6, "TransferAccepted": 3, "TransferDeclined": 2,
                            "TransferWithdrawn": 1}  # fmt: skip
    track = await env.get(f"/tracks/{case_id}", PAYOKE)
    assert track["owning_centre"] == PAYOKE and track["pending_transfer"] is None and not track["as_former_owner"]


async def test_only_the_addressed_centre_answers_and_only_the_requester_withdraws_a_transfer(env):
    case_id, _ = await env.open_case(centre=PAYOKE)
    await env.post(f"/tracks/{case_id}/transfer", {"to_centre": SURYA, "reason": "safety"}, PAYOKE, "manager")
    base = f"/tracks/{case_id}/transfer"
    await env.post(f"{base}/accept", {}, PAYOKE, "manager", expect=403)  # the owner cannot accept for Sürya
    await env.post(f"{base}/accept", {}, PAG_ASA, "manager", expect=404)  # a stranger learns nothing
    await env.post(f"{base}/decline", {"reason": "no-capacity"}, PAG_ASA, "manager", expect=404)
    await env.post(f"{base}/withdraw", None, SURYA, "manager", expect=403)  # the receiver cannot withdraw it
    await env.post(f"{base}/accept", {}, SURYA, "caseworker", expect=403)  # managers decide transfers
    await env.post(base, {"to_centre": PAG_ASA, "reason": "safety"}, PAYOKE, "manager", expect=422)  # one at a time
    await env.get(f"/tracks/{case_id}/timeline", SURYA, expect=403)  # nothing to read before it accepted
    assert (await env.types(case_id)).count("TransferRequested") == 1
    assert (await env.types(case_id)).count("TransferAccepted") == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_transfer_histories_leave_exactly_one_centre_acting_at_every_point(env, seed: int):
    rng = random.Random(seed)
    first = rng.choice(CENTRES)
    case_id, _ = await env.open_case(centre=first)
    model = Model(first)
    for _ in range(10):
        if model.pending is None:
            await step(env, case_id, model, "request", rng.choice([c for c in CENTRES if c != model.owner]))
        else:
            await step(env, case_id, model, rng.choice(["accept", "accept", "decline", "withdraw"]))
    assert sum(model.counts.values()) == 10


# -- one local date: the Brussels day, across midnight and the DST change ---------------------------------


async def test_at_half_past_midnight_in_brussels_a_session_and_a_closure_are_dated_on_the_brussels_day(env):
    env.clock.set(datetime(2026, 1, 5, 22, 30, tzinfo=UTC))  # 23:30 in Brussels (winter): the same day in both
    case_id, _ = await env.open_case(centre=PAYOKE)
    assert (await env.get(f"/tracks/{case_id}", PAYOKE))["opened_on"] == "2026-01-05"
    env.clock.set(datetime(2026, 1, 5, 23, 30, tzinfo=UTC))  # 00:30 on 6 January in Brussels, UTC says the 5th
    assert env.today == date(2026, 1, 6)
    session = {**IMPLAUSIBLE_SESSION, "held_on": "2026-01-06"}
    await env.post(f"/tracks/{case_id}/sessions", session, PAYOKE, expect=201)  # not "in the future" there
    r = await env.svc.client.post(f"/tracks/{case_id}/sessions", json={**session, "held_on": "2026-01-07"},
                                  headers=env.auth(PAYOKE))  # fmt: skip
    assert r.status_code == 422 and r.json()["rule"] == "session-not-in-the-future", r.text
    closed = await env.post(f"/tracks/{case_id}/closure", {"reason": "lost-contact"}, PAYOKE)
    assert closed["closed_on"] == "2026-01-06"
    [recorded] = [r for r in await env.events(case_id) if r.event_type == "TrackClosed"]
    assert recorded.payload["closed_on"] == "2026-01-06" and recorded.occurred_at.date() == date(2026, 1, 5)


async def test_after_the_spring_dst_change_half_past_midnight_in_brussels_is_22_30_utc(env):
    env.clock.set(datetime(2026, 3, 29, 21, 0, tzinfo=UTC))  # 23:00 CEST on 29 March, the day summer time began
    case_id, _ = await env.open_case(centre=SURYA)
    env.clock.set(datetime(2026, 3, 29, 22, 30, tzinfo=UTC))  # 00:30 CEST on 30 March
    reviewed = await env.post(f"/tracks/{case_id}/reviews", None, SURYA)
    assert reviewed["last_reviewed_on"] == "2026-03-30" and reviewed["next_review_due"] == "2026-06-30"
    session = {**IMPLAUSIBLE_SESSION, "held_on": "2026-03-30"}
    await env.post(f"/tracks/{case_id}/sessions", session, SURYA, expect=201)


# -- only plausible dates -----------------------------------------------------------------------------------


async def test_implausible_track_dates_are_refused_with_the_field_and_the_rule_and_record_nothing(env):
    env.clock.advance(timedelta(days=30))
    case_id, _ = await env.open_case(centre=PAG_ASA)
    opened = env.today
    goal = (await env.post(f"/tracks/{case_id}/goals", {"area": "housing", "own_words": "a home",
                           "target_date": str(opened + timedelta(days=200))}, PAG_ASA, expect=201))["id"]  # fmt: skip
    env.clock.advance(timedelta(days=3))
    before = await env.types(case_id)
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        ("/sessions", {**IMPLAUSIBLE_SESSION, "held_on": "2035-01-01"}, "held_on", "session-not-in-the-future"),
        ("/sessions", {**IMPLAUSIBLE_SESSION, "held_on": str(opened - timedelta(days=1))}, "held_on",
         "session-not-before-track-opened"),
        ("/goals", {"area": "juridical", "own_words": "x", "target_date": "2019-05-01"}, "target_date",
         "goal-target-not-before-track-opened"),
        ("/goals", {"area": "juridical", "own_words": "x", "target_date": str(opened + timedelta(days=1))},
         "target_date", "goal-target-not-before-today"),
        (f"/goals/{goal}/progress", {"on": str(opened - timedelta(days=1))}, "on", "goal-progress-not-before-goal-set"),
        (f"/goals/{goal}/progress", {"on": "2035-01-01"}, "on", "goal-progress-not-in-the-future"),
        (f"/goals/{goal}/drop", {"reason": "x", "on": "2035-01-01"}, "on", "goal-dropped-not-in-the-future"),
        ("/reviews", {"on": "2001-01-01"}, "on", "review-not-before-track-opened"),
        ("/reviews", {"on": "2035-01-01"}, "on", "review-not-in-the-future"),
        ("/closure", {"reason": "lost-contact", "on": "2035-01-01"}, "on", "closure-not-in-the-future"),
        ("/closure", {"reason": "lost-contact", "on": "2001-01-01"}, "on", "closure-not-before-track-opened"),
    ]  # fmt: skip
    for suffix, body, field, rule in cases:
        r = await env.svc.client.post(f"/tracks/{case_id}{suffix}", json=body, headers=env.auth(PAG_ASA))
        assert r.status_code == 422, (suffix, r.text)
        assert (r.json()["field"], r.json()["rule"]) == (field, rule), r.text
    assert await env.types(case_id) == before, "a refused date recorded something"
    # Recorded the next morning, a fact keeps the day it happened; a target may lie in the future.
    yesterday = str(env.today - timedelta(days=1))
    await env.post(f"/tracks/{case_id}/goals/{goal}/progress", {"on": yesterday}, PAG_ASA)
    reviewed = await env.post(f"/tracks/{case_id}/reviews", {"on": yesterday}, PAG_ASA)
    assert reviewed["last_reviewed_on"] == yesterday
    r = await env.svc.client.post(f"/tracks/{case_id}/reviews", json={"on": str(opened)}, headers=env.auth(PAG_ASA))
    assert r.status_code == 422 and r.json()["rule"] == "review-not-before-last-review", r.text
    assert len(await env.types(case_id)) == len(before) + 2
