"""The end-to-end demo: one realistic case walked through every service over HTTP, then what each agency saw.

``harbour demo`` (against a running platform) and ``harbour up --demo`` (once everything is healthy) call
:func:`run` with each service's base URL. It only uses the public HTTP APIs, with real signed tokens
(:func:`harbour.auth.issue_token`) of the organisation that does each step in real life:

- the labour inspectorate refers a worker found on a construction site to Payoke (labour exploitation,
  signals from the screening catalogue); Payoke screens, accepts, interviews, records consent, captures an
  obviously fictional identity and admits the person, which opens the case;
- Payoke registers a shelter (with a fictional secret address) and places the person; later the person
  moves on to independent housing;
- the residence procedure: Annex 15 (reflection period), the labour auditorate of Antwerp takes the file,
  a statement to the labour inspectorate with its report number, the attestation of immatriculation, the
  reference magistrate's opinion, the A-card and its renewal (with the magistrate's confirmation), the
  hearing, the verdict (a trafficking conviction), the B-card and the end of the proceedings;
- the guidance track: a goal in the person's own words, guidance phase, a session, closure when the goal is
  achieved and legal has reported the proceedings concluded and the residence settled.

Then each audience reads its own feed (``GET /feeds/{audience}/milestones`` with its own token) and the
demo prints, per audience, the milestones of this case: the centre sees the whole path, the inspectorate
only its referral's progress and the verdict's date, the auditorate the statement, stays, hearing and verdict
with its own file number, the Immigration Office the residence steps; no other audience gets anything, and
no milestone anywhere carries the person's name, an address or an internal id.

Dates. Intake dates its facts by the service's clock (a referral arrives *today*), and legal refuses a fact
dated before the residence procedure opened or after today; so the whole story happens today on a running
platform. What the dates *mean* is still the domain's: the Annex 15 runs 45 days, the attestation 3 months,
the A-card 6 months, and its renewal starts the day after the first card ends.

Every run makes new referrals, case, shelter and file numbers, so the demo can be run again and again
against the same platform.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from harbour.auth import OrgKind, is_known_org, issue_token, org_kind
from harbour.clock import local_day
from harbour.settings import HarbourSettings, get_settings
from milestones.pseudonyms import Pseudonyms, decode_key
from schemas.audiences import all_audiences

SERVICES: tuple[str, ...] = ("intake", "legal", "tracks", "housing", "feeds")
PORTS: dict[str, int] = {"intake": 8101, "legal": 8102, "tracks": 8103, "housing": 8104, "feeds": 8105}

Actor = tuple[str, str]  # (organisation, role) of a token
INSPECTOR: Actor = ("inspection-labour", "officer")
CASEWORKER: Actor = ("centre-payoke", "caseworker")
SHELTER_STAFF: Actor = ("centre-payoke", "housing")
IMMIGRATION: Actor = ("immigration-office", "officer")
AUDITORATE = "labour-auditorate-antwerp"
MAGISTRATE: Actor = (AUDITORATE, "magistrate")

PAYOKE = "centre-payoke"
INSPECTORATE = "inspection-labour"
IMMIGRATION_OFFICE = "immigration-office"

# What each involved audience must receive for this case (a multiset: two opinion requests). The policy
# (schemas/milestones.py) decides it; this is the demo's expectation of that policy for this story, so that
# the demo knows when every milestone has arrived and can say which one did not.
EXPECTED: dict[str, Counter[str]] = {
    PAYOKE: Counter({
        "referral-received": 1, "referral-taken-up": 1, "housing-secured": 2, "reflection-period-started": 1,
        "statement-made": 1, "provisional-stay-granted": 1, "magistrate-opinion-requested": 2,
        "temporary-stay-granted": 1, "stay-renewed": 1, "hearing-scheduled": 1, "civil-party-joined": 1,
        "verdict-delivered": 1, "unlimited-stay-granted": 1, "status-ended": 1, "track-closed": 1,
    }),
    INSPECTORATE: Counter({"referral-received": 1, "referral-taken-up": 1, "statement-made": 1,
                           "verdict-delivered": 1}),
    # The file is assigned after the reflection period started (the demo waits for that milestone first),
    # so the auditorate's feed starts with the statement.
    AUDITORATE: Counter({
        "statement-made": 1, "provisional-stay-granted": 1, "magistrate-opinion-requested": 2,
        "temporary-stay-granted": 1, "stay-renewed": 1, "hearing-scheduled": 1, "civil-party-joined": 1,
        "verdict-delivered": 1, "unlimited-stay-granted": 1, "status-ended": 1, "track-closed": 1,
    }),
    IMMIGRATION_OFFICE: Counter({
        "reflection-period-started": 1, "provisional-stay-granted": 1, "magistrate-opinion-requested": 2,
        "temporary-stay-granted": 1, "stay-renewed": 1, "verdict-delivered": 1, "unlimited-stay-granted": 1,
        "status-ended": 1, "track-closed": 1,
    }),
}  # fmt: skip

# Milestones that say something about where or how the person lives, or about the residence procedure:
# a referrer (police, inspectorate) must never receive them.
NOT_FOR_REFERRERS = frozenset({
    "housing-secured", "reflection-period-started", "provisional-stay-granted", "temporary-stay-granted",
    "unlimited-stay-granted", "stay-renewed", "status-ended", "track-closed",
})  # fmt: skip

# The checks printed at the end, each proving one promise of the platform.
STRANGERS, CARRIED, REFERRER, PSEUDONYMS = "strangers", "carried", "referrer", "pseudonyms"
CHECKS = {
    STRANGERS: "no other audience received anything about this case",
    CARRIED: "no milestone carries the name, an address, the shelter or an internal id",
    REFERRER: "the inspectorate (a referrer) saw no housing or residence milestone",
    PSEUDONYMS: "each audience knows the case under a case reference of its own",
}

_ROLE_BY_KIND = {
    OrgKind.CENTRE: "caseworker",
    OrgKind.PROSECUTION: "magistrate",
}


class DemoFailed(Exception):
    """A step of the demo did not do what it should (the message says which call answered what)."""


@dataclass(frozen=True)
class Story:
    """The facts of one run: fictional, and new numbers every run so that runs never collide."""

    run: str
    person_name: str
    person_alias: str
    inspection_file: str  # the inspectorate's own report of the site visit (its file number)
    statement_report: str  # the report number of the victim's statement
    auditorate_file: str  # the labour auditorate's file number
    shelter_name: str
    shelter_address: str
    home_address: str
    today: date  # legal's today (Brussels): the hearing day

    @classmethod
    def new(cls) -> Story:
        run = secrets.token_hex(3)
        serial = int(run, 16) % 100_000
        # The platform's one "today" (harbour.clock.today: Brussels for BE), as every service dates facts.
        now = datetime.now(UTC)
        today = local_day(now)
        year = today.year % 100
        return cls(
            run=run,
            person_name="Fictivus Demoworker",
            person_alias="Demo Fictivus",
            inspection_file=f"TSW/ANT/{today.year}/{serial:05d}",
            statement_report=f"TSW/ANT/{today.year}/{serial:05d}-PV2",
            auditorate_file=f"AN.60.L6.{serial:06d}/{year:02d}",
            shelter_name=f"Demo shelter {run}",
            shelter_address=f"Fictiefstraat {serial % 97 + 1}, 2000 Antwerpen (fictional, demo {run})",
            home_address=f"Verzonnenlaan {serial % 89 + 1} bus 3, 2018 Antwerpen (fictional, demo {run})",
            today=today,
        )

    def secrets_to_keep(self) -> dict[str, str]:
        """Values that must never appear in any milestone, by what they are."""
        return {"the person's name": self.person_name, "the person's alias": self.person_alias,
                "the shelter's address": self.shelter_address, "the shelter's name": self.shelter_name,
                "the person's home address": self.home_address}  # fmt: skip


@dataclass
class StepResult:
    service: str
    title: str
    detail: str = ""


@dataclass
class DemoReport:
    """What happened: the steps done, the milestones each audience received for this case, and the checks."""

    story: Story
    steps: list[StepResult] = field(default_factory=list)
    planned: int = 0  # steps in the plan: all of them are in ``steps`` when the walk went through
    referral_id: str | None = None
    case_id: str | None = None
    person_id: str | None = None
    shelter_id: str | None = None
    # audience -> the milestones of this case in its feed (dicts as the feed serves them), in feed order
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    audiences_read: list[str] = field(default_factory=list)
    missing: dict[str, Counter[str]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)  # check (CHECKS) -> what broke it
    error: str | None = None
    filtered_by_case_ref: bool = True
    cross_read_status: int | None = None  # another audience's token on Payoke's feed (403 is the only right one)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missing and not self.problems

    def problem(self, check: str, what: str) -> None:
        self.problems.setdefault(check, []).append(what)

    def types(self, audience: str) -> Counter[str]:
        return Counter(m["milestone"] for m in self.received.get(audience, []))


def default_urls(settings: HarbourSettings | None = None) -> dict[str, str]:
    """Where ``harbour up`` puts each service (with ``HARBOUR_PORT_OFFSET``)."""
    offset = (settings or get_settings()).port_offset
    return {name: f"http://127.0.0.1:{port + offset}" for name, port in PORTS.items()}


def reader_role(audience: str) -> str:
    """A role an audience's own staff would read its feed with (feeds checks the organisation only)."""
    return _ROLE_BY_KIND.get(org_kind(audience), "officer")


def _pseudonyms(settings: HarbourSettings) -> Pseudonyms | None:
    """The platform's pseudonym key, if this machine holds it (never created here: a new key would be wrong)."""
    text = settings.pseudonym_key
    if not text:
        path = settings.keys_dir / "pseudonym.key"
        if not path.exists():
            return None
        text = path.read_text().strip()
    return Pseudonyms(decode_key(text))


# --------------------------------------------------------------------------------------------- HTTP


class Platform:
    """HTTP clients of the services, with a cached token per (organisation, role)."""

    def __init__(self, urls: Mapping[str, str], settings: HarbourSettings, timeout: float) -> None:
        missing = [s for s in SERVICES if s not in urls]
        if missing:
            raise DemoFailed(f"no base URL for {', '.join(missing)}")
        self.settings = settings
        self.timeout = timeout
        # No kept-alive connections: the demo pauses between steps (waiting for milestones), and a connection the
        # server closed meanwhile fails the next request with a ReadError that says nothing about the platform.
        limits = httpx.Limits(max_keepalive_connections=0)
        self._clients = {
            name: httpx.AsyncClient(base_url=urls[name].rstrip("/"), timeout=30.0, limits=limits) for name in SERVICES
        }
        self._tokens: dict[Actor, str] = {}

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients.values()))

    def headers(self, actor: Actor) -> dict[str, str]:
        token = self._tokens.get(actor)
        if token is None:
            token = self._tokens[actor] = issue_token(actor[0], actor[1], f"demo-{actor[1]}", settings=self.settings)
        return {"Authorization": f"Bearer {token}"}

    async def raw(self, service: str, method: str, path: str, actor: Actor, body: Any = None,
                  headers: Mapping[str, str] | None = None) -> httpx.Response:  # fmt: skip
        return await self._clients[service].request(method, path, json=body,
                                                    headers={**self.headers(actor), **(headers or {})})  # fmt: skip

    async def call(self, service: str, method: str, path: str, actor: Actor, body: Any = None,
                   headers: Mapping[str, str] | None = None) -> Any:  # fmt: skip
        response = await self.raw(service, method, path, actor, body, headers)
        if response.status_code >= 300:
            raise DemoFailed(f"{service}: {method} {path} as {actor[0]} ({actor[1]}) answered "
                             f"{response.status_code}: {_problem(response)}")  # fmt: skip
        return response.json() if response.content else None

    async def eventually(self, service: str, method: str, path: str, actor: Actor, body: Any = None, *,
                         until: Callable[[Any], bool] | None = None, what: str) -> Any:  # fmt: skip
        """Retry while the service does not know the case yet (404: its consumer has not caught up) or until
        ``until`` holds: services learn of each other's facts through Kafka, a moment after the command."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            response = await self.raw(service, method, path, actor, body)
            if response.status_code < 300:
                result = response.json() if response.content else None
                if until is None or until(result):
                    return result
            elif response.status_code != 404:
                raise DemoFailed(f"{service}: {method} {path} answered {response.status_code}: {_problem(response)}")
            if asyncio.get_running_loop().time() > deadline:
                raise DemoFailed(f"{service} did not {what} within {self.timeout:.0f} s "
                                 f"(last answer {response.status_code})")  # fmt: skip
            await asyncio.sleep(0.2)


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title") or body
        where = body.get("field")
        return f"{detail}" + (f" (field {where})" if where else "")
    return str(body)[:200]


# --------------------------------------------------------------------------------------------- feeds


class Feeds:
    """Each audience's feed, read with that audience's own token; this case's milestones picked by case_ref."""

    def __init__(self, platform: Platform, audiences: Iterable[str], pseudonyms: Pseudonyms | None) -> None:
        self.platform = platform
        self.audiences = list(audiences)
        self.pseudonyms = pseudonyms
        self.start: dict[str, int] = {}
        self.referral_id: str | None = None

    async def head(self, audience: str) -> int:
        """The last cursor in the audience's feed now: the demo reads only what comes after it."""
        after = 0
        while True:
            page = await self.page(audience, after)
            after = page["next"]
            if not page["more"]:
                return after

    async def page(self, audience: str, after: int) -> dict[str, Any]:
        return await self.platform.call("feeds", "GET", f"/feeds/{audience}/milestones?after={after}&limit=500",
                                        (audience, reader_role(audience)))  # fmt: skip

    async def mark_start(self) -> None:
        heads = await asyncio.gather(*(self.head(a) for a in self.audiences))
        self.start = dict(zip(self.audiences, heads, strict=True))

    async def since_start(self, audience: str) -> list[dict[str, Any]]:
        """Every milestone the audience received since the demo started (any case)."""
        items: list[dict[str, Any]] = []
        after = self.start.get(audience, 0)
        while True:
            page = await self.page(audience, after)
            items += [item["milestone"] for item in page["items"]]
            after = page["next"]
            if not page["more"]:
                return items

    def of_this_case(self, audience: str, milestones: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The case's milestones: the audience's own pseudonym of the case, derived as the platform does
        (HMAC of the referral id under the audience's key). Without the key, everything since the start."""
        if self.pseudonyms is None or self.referral_id is None:
            return milestones
        ref = self.pseudonyms.case_ref(audience, self.referral_id)
        return [m for m in milestones if m["case_ref"] == ref]

    async def wait_for(self, expected: Mapping[str, Counter[str]]) -> dict[str, Counter[str]]:
        """Wait until each audience has at least its expected milestones of this case; what is still missing."""
        deadline = asyncio.get_running_loop().time() + self.platform.timeout
        while True:
            missing: dict[str, Counter[str]] = {}
            for audience, wanted in expected.items():
                got = Counter(m["milestone"] for m in self.of_this_case(audience, await self.since_start(audience)))
                short = wanted - got
                if short:
                    missing[audience] = short
            if not missing or asyncio.get_running_loop().time() > deadline:
                return missing
            await asyncio.sleep(0.3)


# --------------------------------------------------------------------------------------------- the story


class Walk:
    """The case, step by step; each step is one or more calls of the organisation that does it in real life."""

    def __init__(self, platform: Platform, feeds: Feeds, story: Story, report: DemoReport,
                 progress: Progress, task: Any) -> None:  # fmt: skip
        self.p = platform
        self.feeds = feeds
        self.story = story
        self.report = report
        self.progress = progress
        self.task = task
        self.goal_id = f"goal-{story.run}"

    async def step(self, service: str, title: str, action: Callable[[], Awaitable[str | None]]) -> None:
        self.progress.update(self.task, description=f"[bold]{service}[/] {title}")
        detail = await action() or ""
        self.report.steps.append(StepResult(service, title, detail))
        self.progress.console.print(f"  [green]✓[/] [cyan]{service:<8}[/] {title}"
                                    + (f" [dim]({detail})[/]" if detail else ""), highlight=False)  # fmt: skip
        self.progress.advance(self.task)

    @property
    def case(self) -> str:
        assert self.report.case_id is not None
        return self.report.case_id

    @property
    def referral(self) -> str:
        assert self.report.referral_id is not None
        return self.report.referral_id

    # -- intake ------------------------------------------------------------------------------------------
    async def refer(self) -> str:
        body = {
            "target_centre": PAYOKE,
            "region": "flanders",
            "referrer_file_number": self.story.inspection_file,
            "exploitation_types": ["labour-exploitation"],
            "signal_ids": [
                "recruitment.deceived-about-job-or-conditions",
                "recruitment.travel-or-fees-paid-by-recruiter",
                "movement-and-control.identity-documents-withheld",
                "movement-and-control.large-debt-to-repay",
                "work-and-living-conditions.sleeping-at-workplace",
                "work-and-living-conditions.little-or-no-pay",
                "work-and-living-conditions.excessive-overtime",
                "exploitation-type.labour-exploitation",
            ],
            "urgency": ["needs-shelter-tonight"],
            # Free text about the person is sealed under their key by intake; it never reaches a milestone.
            "circumstances": "Found during a site inspection on a construction site: works 12-hour days, sleeps "
                             "in a container on site, passport kept by the subcontractor, paid a fraction of the "
                             "promised wage to repay a travel debt.",
        }  # fmt: skip
        # A new Idempotency-Key per run: a retried submission of *this* run would not create a second referral.
        made = await self.p.call(
            "intake",
            "POST",
            "/referrals",
            INSPECTOR,
            body,
            headers={"Idempotency-Key": f"demo-{self.story.run}-{uuid.uuid4().hex[:8]}"},
        )
        self.report.referral_id = made["referral_id"]
        self.feeds.referral_id = made["referral_id"]
        summary = made["referrer_screening"]
        return (f"referral {made['referral_id'][:8]}, report {self.story.inspection_file}, "
                f"{summary['signal_count']} signals: {summary['recommendation']}")  # fmt: skip

    async def screen(self) -> str:
        view = await self.p.call(
            "intake",
            "POST",
            f"/referrals/{self.referral}/screening",
            CASEWORKER,
            {"added_signal_ids": ["violence-and-threats.intimidation-and-threats"]},
        )
        return f"{view['screening']['signal_count']} signals: {view['screening']['recommendation']}"

    async def accept(self) -> str:
        await self.p.call("intake", "POST", f"/referrals/{self.referral}/decision", CASEWORKER, {"decision": "accept"})
        status = await self.p.call("intake", "GET", f"/referrals/{self.referral}", INSPECTOR)
        return f"the inspectorate sees: {status['status']}"

    async def interview(self) -> str:
        view = await self.p.call("intake", "POST", f"/referrals/{self.referral}/interviews", CASEWORKER, {})
        return f"held on {view['last_interview_on']}"

    async def consent(self) -> str:
        for scope in ("guidance", "data-sharing-justice"):
            view = await self.p.call(
                "intake", "POST", f"/referrals/{self.referral}/consents", CASEWORKER, {"scope": scope}
            )
        return ", ".join(view["consents"])

    async def identity(self) -> str:
        view = await self.p.call("intake", "POST", f"/referrals/{self.referral}/identity", CASEWORKER, {
            "names": self.story.person_name, "aliases": [self.story.person_alias], "nationality": "MD",
            "languages": ["ro", "ru"], "date_of_birth": "1994-03-17",
        })  # fmt: skip
        self.report.person_id = view["person_id"]
        return f"sealed under person {view['person_id'][:8]}'s own key; the answer echoes no value"

    async def admit(self) -> str:
        case = await self.p.call(
            "intake", "POST", f"/referrals/{self.referral}/admission", CASEWORKER, {"eu_citizen": False}
        )
        self.report.case_id = case["case_id"]
        return f"case {case['case_id'][:8]} opened on {case['opened_on']}"

    # -- housing -----------------------------------------------------------------------------------------
    async def register_shelter(self) -> str:
        shelter = await self.p.call("housing", "POST", "/housing/shelters", SHELTER_STAFF, {
            "name": self.story.shelter_name, "address": self.story.shelter_address,
            "beds": [{"bed_id": f"b{i}", "constraints": ["men-only"]} for i in range(1, 4)],
        })  # fmt: skip
        self.report.shelter_id = shelter["shelter_id"]
        return f"shelter {shelter['shelter_id']}, {shelter['beds']} beds; its address stays in housing"

    async def place(self) -> str:
        outcome = await self.p.eventually("housing", "POST", f"/housing/cases/{self.case}/placement-requests",
                                          CASEWORKER, {"needs": ["men-only"], "urgency": "tonight"},
                                          what="learn of the case")  # fmt: skip
        if outcome["status"] != "assigned":
            raise DemoFailed(f"the placement was {outcome['status']}, not assigned (Payoke's shelters are full?)")
        return f"bed {outcome['bed_id']} in {outcome['shelter_id']}"

    async def move_on(self) -> str:
        path = await self.p.call(
            "housing",
            "POST",
            f"/housing/cases/{self.case}/moves",
            CASEWORKER,
            {"to": "independent", "address": self.story.home_address},
        )
        return f"{path['stage']} since {path['since']}; the address is sealed under the person's key"

    # -- legal -------------------------------------------------------------------------------------------
    async def residence_open(self) -> str:
        status = await self.p.eventually("legal", "GET", f"/cases/{self.case}/residence", CASEWORKER,
                                         until=lambda s: bool(s["procedure_open"]),
                                         what="open the residence procedure")  # fmt: skip
        return f"procedure opened on {status['opened_on']}"

    async def request(self, document: str) -> str:
        await self.p.call("legal", "POST", f"/cases/{self.case}/residence/requests", CASEWORKER, {"document": document})
        return f"{document} requested by Payoke"

    async def issue(self) -> str:
        await self.p.call(
            "legal", "POST", f"/cases/{self.case}/residence/decisions", IMMIGRATION, {"outcome": "issued"}
        )
        status = await self.p.call("legal", "GET", f"/cases/{self.case}/residence", CASEWORKER)
        current = status["current"]
        ends = current["ends_on"] or "unlimited"
        return f"{current['document']} from {current['starts_on']} to {ends}"

    async def wait_reflection_milestone(self) -> str:
        # The file is assigned only once the reflection period's milestone went out, so who receives it does
        # not depend on how fast the relay is: the auditorate follows the case from its file on.
        missing = await self.feeds.wait_for({PAYOKE: Counter({"reflection-period-started": 1})})
        if missing:
            raise DemoFailed("the reflection period's milestone did not reach Payoke's feed")
        return "milestone in Payoke's feed"

    async def assign_file(self) -> str:
        await self.p.call(
            "legal",
            "POST",
            f"/cases/{self.case}/proceedings/file",
            CASEWORKER,
            {"office": AUDITORATE, "file_number": self.story.auditorate_file},
        )
        return f"{AUDITORATE}, file {self.story.auditorate_file}"

    async def statement(self) -> str:
        await self.p.call(
            "legal",
            "POST",
            f"/cases/{self.case}/proceedings/statements",
            CASEWORKER,
            {"kind": "statement", "unit": INSPECTORATE, "report_number": self.story.statement_report},
        )
        return f"to {INSPECTORATE}, report {self.story.statement_report}"

    async def proceedings(self, path: str, actor: Actor, body: dict[str, Any], detail: str) -> str:
        await self.p.call("legal", "POST", f"/cases/{self.case}/proceedings/{path}", actor, body)
        return detail

    async def renew(self) -> str:
        await self.p.call("legal", "POST", f"/cases/{self.case}/residence/renewal-requests", CASEWORKER, {})
        return "renewal of the A-card requested, with the magistrate's confirmation"

    # -- tracks ------------------------------------------------------------------------------------------
    async def goal(self) -> str:
        await self.p.eventually("tracks", "GET", f"/tracks/{self.case}", CASEWORKER, what="open the track")
        await self.p.call("tracks", "POST", f"/tracks/{self.case}/goals", CASEWORKER, {
            "goal_id": self.goal_id, "area": "administrative",
            "target_date": str(self.story.today + timedelta(days=180)),
            "own_words": "Get my own papers back and work with a real contract.",
        })  # fmt: skip
        track = await self.p.call("tracks", "POST", f"/tracks/{self.case}/goals/{self.goal_id}/progress", CASEWORKER)
        return f"track in phase {track['phase']}, goal {self.goal_id} in progress (the words are sealed)"

    async def guidance(self) -> str:
        track = await self.p.call("tracks", "POST", f"/tracks/{self.case}/phase", CASEWORKER, {"to": "guidance"})
        return f"phase {track['phase']}"

    async def session(self) -> str:
        made = await self.p.call("tracks", "POST", f"/tracks/{self.case}/sessions", CASEWORKER, {
            "held_on": str(self.story.today), "area": "juridical", "kind": "accompaniment", "duration_minutes": 180,
            "attended": True, "notes": "Accompanied to the hearing; interpreter present.",
        })  # fmt: skip
        return f"{made['track']['sessions_recorded']} session recorded (notes sealed)"

    async def close_track(self) -> str:
        await self.p.call("tracks", "POST", f"/tracks/{self.case}/goals/{self.goal_id}/achieve", CASEWORKER)
        # Closure as completed needs legal's facts, which tracks learns from legal's topic.
        await self.p.eventually(
            "tracks",
            "GET",
            f"/tracks/{self.case}",
            CASEWORKER,
            until=lambda t: t["proceedings_concluded"] and t["residence_settled"],
            what="learn that the proceedings concluded and the residence is settled",
        )
        track = await self.p.call("tracks", "POST", f"/tracks/{self.case}/closure", CASEWORKER, {"reason": "completed"})
        return f"closed on {track['closed_on']}: {track['closure_reason']}"

    # -- the whole story ---------------------------------------------------------------------------------
    def plan(self) -> list[tuple[str, str, Callable[[], Awaitable[str | None]]]]:
        today = str(self.story.today)
        verdict = {"court": "criminal-court-antwerp", "instance": "first-instance", "defendants": [
            {"defendant": "defendant-1", "outcome": "convicted-of-trafficking"},
            {"defendant": "defendant-2", "outcome": "convicted-of-other-offences"}]}  # fmt: skip
        return [
            ("intake", "the labour inspectorate refers a worker from a construction site", self.refer),
            ("intake", "Payoke screens the signals", self.screen),
            ("intake", "Payoke accepts the referral", self.accept),
            ("intake", "intake interview", self.interview),
            ("intake", "consent to guidance and to sharing with justice", self.consent),
            ("intake", "identity captured (fictional)", self.identity),
            ("intake", "admission at Payoke", self.admit),
            ("housing", "Payoke registers a shelter with a secret address", self.register_shelter),
            ("housing", "shelter placement, tonight", self.place),
            ("legal", "the residence procedure opens (legal learns of the case)", self.residence_open),
            ("legal", "Annex 15 requested", lambda: self.request("annex-15")),
            ("legal", "Immigration Office issues the Annex 15: reflection period", self.issue),
            ("feeds", "the reflection period reaches Payoke's feed", self.wait_reflection_milestone),
            ("tracks", "support plan: a goal in the person's own words", self.goal),
            ("legal", "the labour auditorate of Antwerp takes the file", self.assign_file),
            ("legal", "statement to the labour inspectorate", self.statement),
            ("tracks", "guidance phase", self.guidance),
            ("legal", "attestation of immatriculation requested",
             lambda: self.request("attestation-of-immatriculation")),
            ("legal", "Immigration Office issues the attestation", self.issue),
            ("legal", "Immigration Office asks the magistrate's opinion",
             lambda: self.proceedings("opinion-requests", IMMIGRATION, {"step": "a-card-initial"}, "a-card-initial")),
            ("legal", "the reference magistrate: a victim",
             lambda: self.proceedings("opinions", MAGISTRATE, {"step": "a-card-initial", "outcome": "victim"},
                                      "opinion: victim")),
            ("legal", "A-card requested", lambda: self.request("a-card")),
            ("legal", "Immigration Office issues the A-card", self.issue),
            ("legal", "Immigration Office asks the magistrate to confirm for a renewal",
             lambda: self.proceedings("opinion-requests", IMMIGRATION, {"step": "a-card-renewal"}, "a-card-renewal")),
            ("legal", "the magistrate confirms",
             lambda: self.proceedings("opinions", MAGISTRATE, {"step": "a-card-renewal", "outcome": "victim"},
                                      "confirmation: victim")),
            ("legal", "A-card renewal requested", self.renew),
            ("legal", "Immigration Office renews the A-card", self.issue),
            ("housing", "move-on to independent housing", self.move_on),
            ("legal", "the case goes to trial",
             lambda: self.proceedings("stages", MAGISTRATE, {"stage": "trial"}, "stage: trial")),
            ("legal", "hearing scheduled at the criminal court of Antwerp",
             lambda: self.proceedings("hearings", MAGISTRATE, {"court": "criminal-court-antwerp", "hearing_on": today,
                                                               "attendance_required": True}, f"on {today}")),
            ("legal", "the person joins as a civil party", lambda: self.proceedings("civil-party", CASEWORKER, {},
                                                                                    "civil party")),
            ("tracks", "accompaniment to the hearing", self.session),
            ("legal", "the auditor's requisitions ask a trafficking conviction",
             lambda: self.proceedings("requisitions", MAGISTRATE, {"asks_trafficking_conviction": True},
                                      "requisitions filed")),
            ("legal", "verdict: convicted of trafficking",
             lambda: self.proceedings("verdicts", MAGISTRATE, verdict, "first instance, 2 defendants")),
            ("legal", "B-card requested", lambda: self.request("b-card")),
            ("legal", "Immigration Office issues the B-card: unlimited stay", self.issue),
            ("legal", "the proceedings are concluded",
             lambda: self.proceedings("conclusion", MAGISTRATE, {"outcome": "final-judgment"}, "final judgment")),
            ("tracks", "goal achieved, track closed", self.close_track),
        ]  # fmt: skip


# --------------------------------------------------------------------------------------------- the run


async def run(
    urls: Mapping[str, str] | None = None,
    *,
    console: Console | None = None,
    settings: HarbourSettings | None = None,
    timeout: float = 60.0,
) -> DemoReport:
    """Walk the case against the platform at ``urls`` (service -> base URL), print what each audience saw.

    Never raises for a failing step: the report says what failed (``report.ok``), so ``harbour up --demo``
    keeps the platform running for a look at what went wrong.
    """
    settings = settings or get_settings()
    console = console or Console()
    urls = dict(urls or default_urls(settings))
    story = Story.new()
    report = DemoReport(story)
    platform = Platform(urls, settings, timeout)
    # Audiences whose tokens exist (the federal prosecutor's office is an audience without an organisation id).
    audiences = [a for a in all_audiences(settings.police_zones) if is_known_org(a)]
    pseudonyms = _pseudonyms(settings)
    report.filtered_by_case_ref = pseudonyms is not None
    feeds = Feeds(platform, audiences, pseudonyms)
    console.rule(f"[bold]Harbour demo[/] · run {story.run} · one case through every service")
    try:
        await feeds.mark_start()
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=console,
                      transient=True) as progress:  # fmt: skip
            walk = Walk(platform, feeds, story, report, progress, None)
            plan = walk.plan()
            report.planned = len(plan)
            walk.task = progress.add_task("starting", total=len(plan) + 1)
            for service, title, action in plan:
                await walk.step(service, title, action)
            progress.update(walk.task, description="[bold]feeds[/] waiting for every audience's milestones")
            report.missing = await feeds.wait_for(EXPECTED)
            # A moment more: a milestone nobody expects (a leak to another audience) has time to show up too.
            await asyncio.sleep(1.5)
            progress.advance(walk.task)
        await _collect(platform, feeds, report)
        report.cross_read_status = await _cross_read(platform)
        if report.cross_read_status != 403:
            report.problem(STRANGERS, f"the inspectorate's token read Payoke's feed ({report.cross_read_status})")
        _print(console, report)
    except httpx.TransportError as exc:
        try:
            where = str(exc.request.url.copy_with(path="/", query=None))
        except RuntimeError:  # httpx raises when the error carries no request
            where = "a service"
        report.error = f"cannot reach {where} ({type(exc).__name__}); is the platform up (`harbour up`)?"
        console.print(f"[bold red]the demo stopped:[/] {report.error}", highlight=False)
    except (DemoFailed, httpx.HTTPError) as exc:
        report.error = f"{type(exc).__name__}: {exc}" if isinstance(exc, httpx.HTTPError) else str(exc)
        console.print(f"[bold red]the demo stopped:[/] {report.error}", highlight=False)
    finally:
        await platform.close()
    return report


async def _collect(platform: Platform, feeds: Feeds, report: DemoReport) -> None:
    """Every audience's feed since the start: this case's milestones, and the privacy checks over all of them."""
    everything = await asyncio.gather(*(feeds.since_start(a) for a in feeds.audiences))
    report.audiences_read = list(feeds.audiences)
    kept = report.story.secrets_to_keep()
    ids = {"the case id": report.case_id, "the person id": report.person_id, "the shelter id": report.shelter_id}
    for audience, milestones in zip(feeds.audiences, everything, strict=True):
        mine = feeds.of_this_case(audience, milestones)
        if mine:
            report.received[audience] = mine
            if audience not in EXPECTED:
                report.problem(STRANGERS, f"{audience} received {len(mine)} milestones of a case it is not part of")
        # Every milestone since the start, of any case: none may carry what this story must keep to itself.
        for milestone in milestones:
            text = json.dumps(milestone)
            for what, value in [*kept.items(), *ids.items()]:
                if value and value in text:
                    report.problem(CARRIED, f"{audience}: a {milestone['milestone']} milestone carries {what}")
            if milestone["audience"] != audience:
                report.problem(STRANGERS, f"{audience}'s feed holds a milestone for {milestone['audience']}")
        if org_kind(audience) in (OrgKind.POLICE, OrgKind.INSPECTORATE):
            for milestone in mine:
                if milestone["milestone"] in NOT_FOR_REFERRERS:
                    report.problem(REFERRER, f"{audience} received {milestone['milestone']}")
    refs = {a: {m["case_ref"] for m in ms} for a, ms in report.received.items()}
    if report.filtered_by_case_ref and len(set().union(*refs.values(), set())) != len(refs):
        report.problem(PSEUDONYMS, "two audiences share a case reference")


async def _cross_read(platform: Platform) -> int:
    """The inspectorate's token on Payoke's feed: the status code (403 is the only right answer)."""
    response = await platform.raw("feeds", "GET", f"/feeds/{PAYOKE}/milestones", INSPECTOR)
    return response.status_code


def _fields(milestone: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in milestone.get("data", {}).items())


def _print(console: Console, report: DemoReport) -> None:
    console.print()
    console.rule("[bold]What each agency received[/] (its own feed, read with its own token)")
    order = [PAYOKE, INSPECTORATE, AUDITORATE, IMMIGRATION_OFFICE]
    for audience in [*order, *(a for a in report.received if a not in order)]:
        milestones = report.received.get(audience, [])
        refs = sorted({m["case_ref"] for m in milestones})
        files = sorted({m["file_number"] for m in milestones if m.get("file_number")})
        title = (
            f"[bold]{audience}[/] · {len(milestones)} milestones · case ref "
            f"{', '.join(r[:12] + '…' for r in refs) or '-'}" + (f" · its file {', '.join(files)}" if files else "")
        )
        # The heading on its own line: as a table title it would wrap to the width of a narrow table.
        console.print(title, highlight=False)
        table = Table()
        table.add_column("#", justify="right", style="dim")
        table.add_column("milestone", style="bold", no_wrap=True)
        table.add_column("occurred", no_wrap=True)
        table.add_column("from", style="dim")
        table.add_column("fields", overflow="fold")
        for i, m in enumerate(milestones, 1):
            table.add_row(str(i), m["milestone"], m["occurred_on"], m["source"], _fields(m))
        console.print(table)
    silent = [a for a in report.audiences_read if a not in report.received]
    examples = [a for a in ("police-federal", "centre-pag-asa", "centre-surya", "prosecution-antwerp",
                            "guardianship-service") if a in silent]  # fmt: skip
    console.print(f"[bold]Nothing at all[/] about this case for the {len(silent)} other audiences "
                  f"({', '.join(examples)}, ...)", highlight=False)  # fmt: skip
    console.rule("[bold]Checks[/]")
    missing = "; ".join(f"{a} lacks {', '.join(sorted(c.elements()))}" for a, c in report.missing.items())
    _check(console, not report.missing, "every involved audience received what the policy grants it", missing)
    for name, what in CHECKS.items():
        _check(console, not report.problems.get(name), what, "; ".join(report.problems.get(name, [])[:3]))
    status = report.cross_read_status
    _check(console, status == 403, "the inspectorate's token on Payoke's feed is refused", f"answered {status}")
    if not report.filtered_by_case_ref:
        console.print("[yellow]note:[/] no pseudonym key on this machine: the tables show every milestone since "
                      "the demo started, whichever case it is about")  # fmt: skip
    verdict = "[bold green]the demo case went through every service[/]" if report.ok else "[bold red]the demo failed[/]"
    console.print(f"{verdict} · case {report.case_id} · {len(report.steps)} steps", highlight=False)


def _check(console: Console, ok: bool, what: str, why: str) -> None:
    mark = "[green]✓[/]" if ok else "[red]✗[/]"
    console.print(f"  {mark} {what}" + (f" [red]({why})[/]" if why and not ok else ""), highlight=False)
