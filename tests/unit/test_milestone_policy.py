"""The audience policy: one table, rendered for review, and what each audience may and may not receive.

Over randomly generated case histories, each audience receives exactly the milestones the policy grants it,
with exactly the granted fields, its own file number only, and nothing that looks like personal data.
"""

from __future__ import annotations

import asyncio
import json
import re
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbour.events import EVENT_TYPES
from harbour.organisations import CENTRES, OrgKind, org_kind
from harbour.settings import REPO_ROOT, HarbourSettings
from milestones.policy import render_markdown, source_services
from milestones.pseudonyms import Pseudonyms
from milestones.route import UNROUTED, FactsPending, MilestoneRoute
from milestones.topics import audience_topics
from schemas.audiences import (
    AudienceKind,
    all_audiences,
    audience_kind,
    milestone_topic,
)
from schemas.intake import Centre
from schemas.milestones import POLICY, CaseFacts, From, Milestone, MilestoneType, Role
from tests.support.milestone_events import SECRET, ZONES, FactsConn, case_facts, policy_events, recorded

KEY = bytes(range(32))
ROLE_OF_KIND = {
    AudienceKind.CENTRE: Role.OWNING_CENTRE,
    AudienceKind.POLICE: Role.REFERRER,
    AudienceKind.INSPECTORATE: Role.REFERRER,
    AudienceKind.PROSECUTION: Role.PROSECUTION,
    AudienceKind.IMMIGRATION_OFFICE: Role.IMMIGRATION_OFFICE,
    AudienceKind.GUARDIANSHIP_SERVICE: Role.GUARDIANSHIP_SERVICE,
}
# Names that would mean a person's data, a place or free text had found its way into a milestone.
PERSONAL = re.compile(r"name|birth|nationality|phone|address|photo|person|shelter|bed|note|narrative|"
                      r"circumstance|health|language|alias|words|email|identity")  # fmt: skip


def _settings(**overrides: Any) -> HarbourSettings:
    return HarbourSettings(police_zones=list(ZONES), pseudonym_key="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                           **overrides)  # fmt: skip


def _route(service: str = "intake", **overrides: Any) -> MilestoneRoute:
    return MilestoneRoute(service, _settings(**overrides), Pseudonyms(KEY))


def _publish(routes: dict[str, MilestoneRoute], conn: FactsConn, event: Any, case_key: str) -> list[Milestone]:
    # The relay of the service that owns the event: the module its contract lives in (schemas.<service>).
    route = routes[type(event).__module__.rpartition(".")[2]]
    messages = asyncio.run(route(conn, recorded(event, case_key)))
    milestones = [Milestone.model_validate_json(m.value) for m in messages]
    for message, milestone in zip(messages, milestones, strict=True):
        assert message.topic == milestone_topic(milestone.audience)
        assert message.key == milestone.case_ref.encode()
        assert case_key.encode() not in b"".join(v for _, v in message.headers)
    return milestones


def _expected(event: Any, facts: CaseFacts) -> dict[str, frozenset[str]]:
    """Independently of the runtime: which audience gets which fields of this event's milestone."""

    def value(name: str) -> str:
        raw = getattr(event, name)
        return str(getattr(raw, "value", raw))

    rules = [(r, s) for r in POLICY for s in r.sources
             if s.event_type == event.event_type and all(value(k) in v for k, v in s.when.items())]  # fmt: skip
    if not rules:
        return {}
    [(rule, _)] = rules
    who = {
        Role.OWNING_CENTRE: facts.owning_centre,
        Role.REFERRER: facts.referring_org if facts.referring_org in ("police-federal", *ZONES, "inspection-labour",
                                                                      "inspection-social") else None,
        Role.PROSECUTION: facts.prosecution_office,
        Role.IMMIGRATION_OFFICE: "immigration-office" if facts.immigration_involved else None,
        Role.GUARDIANSHIP_SERVICE: "guardianship-service" if facts.minor else None,
    }  # fmt: skip
    return {who[role]: fields for role, fields in rule.grants.items() if who[role] is not None}


# ---- the table itself ---------------------------------------------------------------------------------------


def test_the_policy_page_shows_exactly_the_table_in_the_code() -> None:
    page = (REPO_ROOT / "docs" / "milestone-policy.md").read_text()
    section = page.split("<!-- milestone-policy:start -->\n", 1)[1].split("<!-- milestone-policy:end -->", 1)[0]
    assert section == render_markdown(), "regenerate with: .venv/bin/python -m milestones.policy"


def test_an_audiences_kind_is_its_organisations_kind_and_only_the_kinds_that_follow_cases_have_audiences() -> None:
    assert AudienceKind is OrgKind  # one enum: access reads tokens with it, the audiences are organisations
    audiences = all_audiences(ZONES)
    assert {audience_kind(a, ZONES) for a in audiences} == set(ROLE_OF_KIND)
    assert all(audience_kind(a, ZONES) is org_kind(a) for a in audiences)
    for org in ("ngo-la-strada", "hospital-st-pierre", "myria", "ops", "police-not-configured"):
        with pytest.raises(LookupError):
            audience_kind(org, ZONES)


def test_the_centres_of_the_contracts_are_the_centres_access_knows() -> None:
    # One list (harbour.organisations.CENTRES); the contract's enum must name the same three, in the same order.
    assert [c.value for c in Centre] == list(CENTRES)
    assert [a for a in all_audiences(ZONES) if audience_kind(a, ZONES) is OrgKind.CENTRE] == list(CENTRES)


def test_every_milestone_type_has_exactly_one_rule() -> None:
    assert sorted(r.milestone for r in POLICY) == sorted(MilestoneType)


def test_every_source_names_a_real_event_of_its_service_and_real_fields() -> None:
    for rule in POLICY:
        for source in rule.sources:
            cls = EVENT_TYPES.cls_for(source.event_type)
            assert cls.__module__ == f"schemas.{source.service}", (source.event_type, cls.__module__)
            paths = [source.occurred_on, *source.when, *(s.path for s in source.fields.values() if isinstance(s, From))]
            for path in paths:
                model: Any = cls
                for part in path.split("."):
                    assert part in model.model_fields, f"{source.event_type} has no field {path}"
                    model = model.model_fields[part].annotation


def test_every_granted_field_is_filled_by_every_source_of_its_milestone() -> None:
    for rule in POLICY:
        granted = set().union(*rule.grants.values())
        for source in rule.sources:
            assert granted <= set(source.fields), (rule.milestone, granted - set(source.fields))


def test_no_event_falls_under_two_rules() -> None:
    sources = [s for r in POLICY for s in r.sources]
    for a, b in combinations(sources, 2):
        if a.event_type == b.event_type:
            common = set(a.when) & set(b.when)
            assert any(not (a.when[k] & b.when[k]) for k in common), (a.event_type, a.when, b.when)


def test_no_field_name_or_source_field_looks_like_personal_data() -> None:
    for rule in POLICY:
        for source in rule.sources:
            for name, spec in source.fields.items():
                assert not PERSONAL.search(name), (rule.milestone, name)
                assert not (isinstance(spec, From) and PERSONAL.search(spec.path)), (rule.milestone, spec)


def test_the_referrer_gets_dates_only_and_housing_secured_reaches_neither_police_nor_prosecution() -> None:
    for rule in POLICY:
        referrer = rule.grants.get(Role.REFERRER, frozenset())
        assert all(name.endswith("_on") for name in referrer), (rule.milestone, referrer)
    [housing] = [r for r in POLICY if r.milestone is MilestoneType.HOUSING_SECURED]
    assert set(housing.grants) == {Role.OWNING_CENTRE, Role.GUARDIANSHIP_SERVICE}


def test_every_audience_has_its_own_topic_keyed_by_its_case_reference() -> None:
    audiences = all_audiences(ZONES)
    assert {"centre-payoke", "centre-pag-asa", "centre-surya", "police-federal", "police-liege",
            "prosecution-antwerp", "labour-auditorate-ghent", "inspection-social", "inspection-labour",
            "immigration-office", "guardianship-service"} <= set(audiences)  # fmt: skip
    topics = audience_topics(audiences)
    assert len({t.name for t in topics}) == len(audiences)
    assert all(t.key == "audience case reference" for t in topics)
    with pytest.raises(ValueError):
        all_audiences(["police-federal"])


def test_only_the_four_owning_services_publish_milestones() -> None:
    assert source_services() == {"intake", "legal", "tracks", "housing"}


# ---- generated case histories ------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(history=st.lists(st.tuples(case_facts, policy_events), min_size=1, max_size=8),
       root=st.text(alphabet="abcdef0123456789-", min_size=4, max_size=20))  # fmt: skip
def test_each_audience_receives_exactly_what_the_policy_grants_and_nothing_else(history, root) -> None:
    routes = {service: _route(service) for service in source_services()}
    refs: dict[str, set[str]] = {}
    for facts, event in history:
        published = _publish(routes, FactsConn("case-1", root, facts), event, "case-1")
        expected = _expected(event, facts)
        assert {m.audience: frozenset(m.data) for m in published} == expected
        for m in published:
            role = ROLE_OF_KIND[audience_kind(m.audience, ZONES)]
            own = {Role.REFERRER: facts.referrer_file_number, Role.PROSECUTION: facts.prosecution_file_number}
            assert m.file_number == own.get(role)
            text = m.model_dump_json()
            assert SECRET not in text and "person-1" not in text
            assert all(v is None or isinstance(v, str | int | bool) or hasattr(v, "isoformat") for v in m.data.values())
            assert all(not isinstance(v, str) or len(v) <= 64 for v in m.data.values())  # codes, never prose
            refs.setdefault(m.audience, set()).add(m.case_ref)
    # One reference per audience for the whole history, and no two audiences share one.
    assert all(len(r) == 1 for r in refs.values())
    flat = [r for rs in refs.values() for r in rs]
    assert len(flat) == len(set(flat))


@settings(max_examples=80, deadline=None)
@given(root=st.text(min_size=1, max_size=40), audiences=st.lists(st.sampled_from(all_audiences(ZONES)),
                                                                min_size=2, max_size=5, unique=True))  # fmt: skip
def test_pseudonyms_are_stable_within_an_audience_and_distinct_across_audiences(root, audiences) -> None:
    first, again = Pseudonyms(KEY), Pseudonyms(KEY)
    refs = [first.case_ref(a, root) for a in audiences]
    assert refs == [again.case_ref(a, root) for a in audiences]
    assert len(set(refs)) == len(refs)
    assert all(re.fullmatch(r"[a-z2-7]{26}", r) for r in refs)
    assert root not in "".join(refs) or len(root) < 3
    assert Pseudonyms(bytes(32)).case_ref(audiences[0], root) != refs[0]  # another platform key, other refs


def test_a_milestone_id_is_the_same_for_a_redelivered_event_and_differs_per_audience() -> None:
    from datetime import date

    from schemas.intake import Centre, ReferralAccepted

    route = _route()
    event = ReferralAccepted(referral_id="ref-1", centre=Centre.PAYOKE, accepted_on=date(2026, 1, 5))
    stored = recorded(event, "ref-1")
    facts = CaseFacts(owning_centre="centre-payoke", referring_org="police-federal")
    conn = FactsConn("ref-1", "ref-1", facts)
    first = [Milestone.model_validate_json(m.value) for m in asyncio.run(route(conn, stored))]
    again = [Milestone.model_validate_json(m.value) for m in asyncio.run(route(conn, stored))]
    assert [m.milestone_id for m in first] == [m.milestone_id for m in again]
    assert len({m.milestone_id for m in first}) == 2


# ---- facts not known yet ------------------------------------------------------------------------------------


def _unrouted(role: str, why: str) -> float:
    return UNROUTED.labels("intake", "referral-taken-up", role, why)._value.get()


def _accepted() -> Any:
    from datetime import date

    from schemas.intake import Centre, ReferralAccepted

    return recorded(ReferralAccepted(referral_id="ref-9", centre=Centre.SURYA, accepted_on=date(2026, 1, 5)), "ref-9")


def test_an_event_whose_case_is_not_known_yet_makes_the_relay_retry() -> None:
    route = _route(milestone_fact_wait_seconds=30)
    with pytest.raises(FactsPending):
        asyncio.run(route(FactsConn("ref-9", None, None), _accepted()))


def test_after_the_bounded_wait_the_milestone_goes_to_those_known_and_the_rest_is_counted() -> None:
    before = _unrouted("referrer", "facts-unknown")
    route = _route(milestone_fact_wait_seconds=0.2)
    event = _accepted()

    async def retried_like_the_relay() -> tuple[int, list]:
        for attempt in range(1, 100):
            try:
                return attempt, list(await route(FactsConn("ref-9", None, None), event))
            except FactsPending:
                await asyncio.sleep(0.05)
        raise AssertionError("the wait was not bounded")

    attempts, published = asyncio.run(retried_like_the_relay())
    assert published == [] and attempts > 1
    assert _unrouted("referrer", "facts-unknown") == before + 1


def test_a_referrer_without_an_audience_topic_is_counted_not_dropped_silently() -> None:
    before = _unrouted("referrer", "no-audience")
    facts = CaseFacts(owning_centre="centre-surya", referring_org="ngo-street-outreach")
    published = asyncio.run(_route()(FactsConn("ref-9", "ref-9", facts), _accepted()))
    assert [json.loads(m.value)["audience"] for m in published] == ["centre-surya"]
    assert _unrouted("referrer", "no-audience") == before + 1


def test_the_dev_pseudonym_key_is_made_once_and_reused(tmp_path: Path) -> None:
    settings_ = HarbourSettings(var_dir=tmp_path)
    one = Pseudonyms.from_settings(settings_).case_ref("centre-payoke", "ref-1")
    two = Pseudonyms.from_settings(settings_).case_ref("centre-payoke", "ref-1")
    assert one == two and (tmp_path / "keys" / "pseudonym.key").stat().st_mode & 0o777 == 0o600


def test_a_prosecution_office_outside_the_registry_is_counted_as_undelivered_not_dropped_silently() -> None:
    from datetime import date

    from schemas.legal import StatementKind, StatementMade

    # A file assigned to "prosecution-atlantis" before legal checked office ids: its milestones reach nobody,
    # and the counter says so (it used to say nothing).
    before = UNROUTED.labels("legal", "statement-made", "prosecution", "no-audience")._value.get()
    event = StatementMade(case_id="case-9", kind=StatementKind.STATEMENT, made_on=date(2026, 1, 5),
                          unit="police-federal", report_number="PV-1")  # fmt: skip
    facts = CaseFacts(owning_centre="centre-surya", prosecution_office="prosecution-atlantis")
    route = _route("legal")
    published = asyncio.run(route(FactsConn("case-9", "ref-9", facts), recorded(event, "case-9")))
    assert [json.loads(m.value)["audience"] for m in published] == ["centre-surya"]
    assert UNROUTED.labels("legal", "statement-made", "prosecution", "no-audience")._value.get() == before + 1
