"""The access matrix of the tracks API: every endpoint against every kind of caller.

The policy below is written out again here, independently of ``services.tracks.access``, and reviewed like
code. Allowed commands are sent with a stale ``expected_version``, so an allowed caller gets 409 (past every
access check) and the matrix changes nothing; allowed queries get 200. Callers:

track A was opened at Payoke, transferred to PAG-ASA, and PAG-ASA asked Surya to take it over (pending):
PAG-ASA owns it, Payoke is its former owner, Surya the receiving centre. Track B is Payoke's alone, so the
other centres are strangers to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from harbour_tools.infra import BrokerProcess
from services.tracks.access import ACCESS
from tests.support.access_contract import AccessContract, Cell
from tests.support.tracks_env import PURPOSE, TracksEnv, tracks_env

PAYOKE, PAG_ASA, SURYA = "centre-payoke", "centre-pag-asa", "centre-surya"
STALE = {"expected_version": 10_000}

# endpoint -> (roles, whose): roles "staff" (caseworker, manager) or "managers"; whose: "owner",
# "owner-or-former", "receiving" (of a pending transfer) or "centre" (lists over the caller's own centre).
POLICY: dict[str, tuple[str, str]] = {
    "read_track": ("staff", "owner-or-former"),
    "read_timeline": ("staff", "owner-or-former"),
    "read_session_notes": ("staff", "owner-or-former"),
    "read_goal_words": ("staff", "owner-or-former"),
    "read_caseload": ("staff", "centre"),
    "read_incoming_transfers": ("staff", "centre"),
    "assign_caseworker": ("managers", "owner"),
    "change_phase": ("staff", "owner"),
    "set_goal": ("staff", "owner"),
    "progress_goal": ("staff", "owner"),
    "achieve_goal": ("staff", "owner"),
    "drop_goal": ("staff", "owner"),
    "review_plan": ("staff", "owner"),
    "record_session": ("staff", "owner"),
    "request_transfer": ("managers", "owner"),
    "withdraw_transfer": ("managers", "owner"),
    "accept_transfer": ("managers", "receiving"),
    "decline_transfer": ("managers", "receiving"),
    "close_track": ("staff", "owner"),
    "reopen_track": ("staff", "owner"),
}

# endpoint -> (method, path under /tracks/{case} or absolute, body); {g} and {s} are the track's goal and session
ENDPOINTS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "read_track": ("GET", "", None),
    "read_timeline": ("GET", "/timeline", None),
    "read_session_notes": ("GET", "/sessions/{s}/notes", None),
    "read_goal_words": ("GET", "/goals/{g}/words", None),
    "read_caseload": ("GET", "=/caseload", None),
    "read_incoming_transfers": ("GET", "=/transfers/incoming", None),
    "assign_caseworker": ("PUT", "/caseworker", {"caseworker_id": "cw-x", **STALE}),
    "change_phase": ("POST", "/phase", {"to": "guidance", **STALE}),
    "set_goal": ("POST", "/goals", {"area": "housing", "target_date": "2027-01-01", "own_words": "x", **STALE}),
    "progress_goal": ("POST", "/goals/{g}/progress", STALE),
    "achieve_goal": ("POST", "/goals/{g}/achieve", STALE),
    "drop_goal": ("POST", "/goals/{g}/drop", {"reason": "x", **STALE}),
    "review_plan": ("POST", "/reviews", STALE),
    "record_session": (
        "POST",
        "/sessions",
        {
            "held_on": "2026-01-05",
            "area": "housing",
            "kind": "phone",
            "duration_minutes": 10,
            "attended": True,
            **STALE,
        },
    ),
    "request_transfer": ("POST", "/transfer", {"to_centre": SURYA, "reason": "safety", **STALE}),
    "withdraw_transfer": ("POST", "/transfer/withdraw", STALE),
    "accept_transfer": ("POST", "/transfer/accept", {"caseworker_id": "cw-y", **STALE}),
    "decline_transfer": ("POST", "/transfer/decline", {"reason": "no-capacity", **STALE}),
    "close_track": ("POST", "/closure", {"reason": "lost-contact", **STALE}),
    "reopen_track": ("POST", "/reopening", {"reason": "x", **STALE}),
}


@dataclass(frozen=True)
class Who:
    track: str  # "A" or "B"
    relation: str  # owner, former, receiving, stranger, other (police), none (no token)
    org: str | None
    role: str


CALLERS: dict[str, Who] = {
    "owner-caseworker": Who("A", "owner", PAG_ASA, "caseworker"),
    "owner-manager": Who("A", "owner", PAG_ASA, "manager"),
    "owner-housing-staff": Who("A", "owner", PAG_ASA, "housing"),
    "former-caseworker": Who("A", "former", PAYOKE, "caseworker"),
    "former-manager": Who("A", "former", PAYOKE, "manager"),
    "receiving-manager": Who("A", "receiving", SURYA, "manager"),
    "stranger-caseworker": Who("B", "stranger", PAG_ASA, "caseworker"),
    "stranger-manager": Who("B", "stranger", SURYA, "manager"),
    "police-officer": Who("A", "other", "police-federal", "officer"),
    "magistrate": Who("A", "other", "prosecution-antwerp", "magistrate"),
    "no-token": Who("A", "none", None, "caseworker"),
}


def expected(endpoint: str, who: Who) -> int:
    if who.relation == "none":
        return 401
    if who.relation == "other" or who.role not in ("caseworker", "manager"):
        return 403
    roles, whose = POLICY[endpoint]
    if roles == "managers" and who.role != "manager":
        return 403
    ok = 200 if ENDPOINTS[endpoint][0] == "GET" else 409
    admitted = {
        "centre": {"owner", "former", "receiving", "stranger"},
        "owner": {"owner"},
        "owner-or-former": {"owner", "former"},
        "receiving": {"receiving"},
    }[whose]
    if who.relation in admitted:
        return ok
    # A centre that never had the track is told nothing, not even that it exists.
    return 404 if who.relation == "stranger" else 403


@dataclass
class Tracks:
    env: TracksEnv
    ids: dict[str, dict[str, str]]  # "A"/"B" -> case, goal, session
    versions: dict[str, int]


@pytest.fixture(scope="module")
async def tracks(pg_server_url: str, broker: BrokerProcess) -> AsyncIterator[Tracks]:
    if not broker.is_running:
        broker.start()
    async with tracks_env(pg_server_url, broker.bootstrap, kafka=False) as env:
        ids = {}
        for name in ("A", "B"):
            case_id, _ = await env.open_case(centre=PAYOKE)
            goal = (
                await env.post(
                    f"/tracks/{case_id}/goals",
                    {"area": "housing", "target_date": "2026-06-01", "own_words": "a room of my own"},
                    PAYOKE,
                    expect=201,
                )
            )["id"]
            session = (
                await env.post(
                    f"/tracks/{case_id}/sessions",
                    {
                        "held_on": "2026-01-05",
                        "area": "housing",
                        "kind": "phone",
                        "duration_minutes": 15,
                        "attended": True,
                        "notes": "called",
                    },
                    PAYOKE,
                    expect=201,
                )
            )["id"]
            ids[name] = {"case": case_id, "g": goal, "s": session}
        a = ids["A"]["case"]
        await env.post(f"/tracks/{a}/transfer", {"to_centre": PAG_ASA, "reason": "person-relocated"}, PAYOKE, "manager")
        await env.post(f"/tracks/{a}/transfer/accept", {"caseworker_id": "cw-bxl"}, PAG_ASA, "manager")
        await env.post(f"/tracks/{a}/transfer", {"to_centre": SURYA, "reason": "safety"}, PAG_ASA, "manager")
        versions = {name: len(await env.events(v["case"])) for name, v in ids.items()}
        yield Tracks(env, ids, versions)


def _template(path: str) -> str:
    if path.startswith("="):
        return path[1:]
    return "/tracks/{case_id}" + path.replace("{g}", "{goal_id}").replace("{s}", "{session_id}")


class TestTracksAccess(AccessContract):
    table = ACCESS

    @classmethod
    def cells(cls) -> list[Cell]:
        return [Cell(e, c, expected(e, who)) for e in ENDPOINTS for c, who in CALLERS.items()]

    def matrix_routes(self) -> set[tuple[str, str]]:
        return {(method, _template(path)) for method, path, _ in ENDPOINTS.values()}

    def matrix_entries(self) -> set[str]:
        assert set(POLICY) == set(ENDPOINTS)
        return set(ENDPOINTS)

    def app(self, env: Tracks) -> Any:
        return env.env.svc.app

    async def call(self, env: Tracks, cell: Cell) -> Any:
        who = CALLERS[cell.caller]
        method, path, body = ENDPOINTS[cell.endpoint]
        ids = env.ids[who.track]
        url = path[1:] if path.startswith("=") else f"/tracks/{ids['case']}" + path.format(g=ids["g"], s=ids["s"])
        headers = dict(PURPOSE)
        if who.org is not None:
            headers.update(env.env.auth(who.org, who.role, "cw-1"))
        return await env.env.svc.client.request(method, url, json=body, headers=headers)


@pytest.fixture(scope="module")
def access_env(tracks: Tracks) -> Tracks:
    return tracks


async def test_the_matrix_changed_no_track(tracks: Tracks) -> None:
    for name, ids in tracks.ids.items():
        assert len(await tracks.env.events(ids["case"])) == tracks.versions[name]


async def test_a_former_owner_reads_the_words_of_its_own_period_but_not_what_came_after(tracks: Tracks) -> None:
    env, a = tracks.env, tracks.ids["A"]["case"]
    words = await env.get(f"/tracks/{a}/goals/{tracks.ids['A']['g']}/words", PAYOKE, headers=PURPOSE)
    assert words["texts"] == {"own_words": "a room of my own"}
    timeline = await env.get(f"/tracks/{a}/timeline", PAYOKE)
    assert "TransferRequested" in [e["event_type"] for e in timeline["items"]]
    # PAG-ASA's own request to Surya came after Payoke's period: Payoke does not see it.
    assert [e["event_type"] for e in timeline["items"]].count("TransferRequested") == 1
    owner = await env.get(f"/tracks/{a}/timeline", PAG_ASA)
    assert [e["event_type"] for e in owner["items"]].count("TransferRequested") == 2
    assert all("own_words" not in e["facts"] and "notes" not in e["facts"] for e in owner["items"])
