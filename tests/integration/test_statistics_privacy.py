"""The person's profile on its way to the statistics, with the real intake and statistics services on the real broker:
a referral with a full identity (name, date of birth, nationality) is admitted; what intake publishes as
``CaseProfiled`` carries bands only (no date of birth, no country, no name), statistics folds it into its fact,
and nothing the statistics service stores or answers (the fact row, a release as JSON, every table's CSV, the
report page, the release list) holds the case id, the referral id, the person id or any audience's pseudonym."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from harbour.clock import ManualClock
from milestones import Pseudonyms
from schemas.audiences import all_audiences
from services.intake.app import DEFINITION as INTAKE
from services.intake.profile import COUNTRIES
from services.statistics import store
from services.statistics.app import DEFINITION as STATISTICS
from services.statistics.domain import STANDARD_TABLES
from services.statistics.facts import Fact, fact_key
from tests.support.harness import fast_settings, running_service
from tests.support.intake_flow import CLEAR_STRINGS, PERSON, IntakeClient, clock
from tests.support.intake_privacy import record_text, topic_records
from tests.support.kafka import headers_of
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
MYRIA = ("myria", "analyst")
# Written out by hand: a field added to CaseProfiled must come through this review, not slip onto the topic.
PROFILE_FIELDS = {"referral_id", "case_id", "sex", "age_band", "citizenship", "world_region", "profiled_on"}
# PERSON's date of birth (1999-03-14) as any system might write it, and their nationality (NG) by name.
BIRTH = ("1999-03-14", "14/03/1999", "14.03.1999", "14-03-1999", "19990314", "1999")
NATIONALITY = ("nigeria", "nigerian", "nga")


async def test_the_profile_intake_publishes_holds_no_birth_date_country_or_name_and_no_release_names_the_case(
    pg_server_url, running_broker
):
    bootstrap = running_broker.bootstrap
    settings = fast_settings(statistics_fact_key=base64.b64encode(b"p" * 32).decode())
    async with (
        running_service(INTAKE, pg_server_url=pg_server_url, bootstrap=bootstrap, clock=clock()) as intake_svc,
        running_service(STATISTICS, pg_server_url=pg_server_url, bootstrap=bootstrap, settings=settings,
                        clock=ManualClock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))) as stats,
    ):  # fmt: skip
        intake = IntakeClient(intake_svc)
        admitted = await intake.referral_at("admitted", person=PERSON)
        rid, case_id, person_id = admitted["referral_id"], admitted["case_id"], admitted["person_id"]
        key = fact_key(store.secret(stats.settings), case_id)

        async def folded() -> Fact | None:
            async with stats.runtime.pool.acquire() as conn:
                row = await conn.fetchval("SELECT fact FROM statistics_facts WHERE fact_key = $1", key)
            fact = Fact.from_json(json.loads(row)) if row is not None else None
            return fact if fact is not None and fact.counted and fact.sex == "female" else None

        await wait_until(folded, timeout=30)
        fact = await folded()
        assert fact is not None
        assert (fact.sex, fact.age_band, fact.citizenship, fact.world_region) == ("female", "25-34", "non-eu", "africa")
        async with stats.runtime.pool.acquire() as conn:
            rows = [r["row"] for r in await conn.fetch("SELECT t::text AS row FROM statistics_facts t")]
            # The referral's own profile (no case id yet) made no row of its own.
            assert await conn.fetchval("SELECT count(*) FROM statistics_facts WHERE fact_key = $1",
                                       fact_key(store.secret(stats.settings), rid)) == 0  # fmt: skip

        # What intake put on its topic for this person: the referral's profile and the case's, bands only.
        profiles = [r for r in await topic_records(bootstrap) if headers_of(r)["event_type"] == "CaseProfiled"
                    and headers_of(r)["case_id"] in (rid, case_id)]  # fmt: skip
        assert len(profiles) == 2
        for record in profiles:
            payload = json.loads(record.value)
            assert set(payload) == PROFILE_FIELDS
            text = record_text(record)
            assert not [s for s in CLEAR_STRINGS if s in text]  # no name, alias, phone, document, birth date
            values = [str(v) for name, v in payload.items() if name not in ("referral_id", "case_id")]
            assert not [v for v in values for b in BIRTH if b in v], values
            assert not [v for v in values if v.upper() in COUNTRIES or v.casefold() in NATIONALITY], values
            assert not [n for n in NATIONALITY if n in text.casefold()]

        # Every answer of the statistics service about the release, and its stored facts.
        headers = {**stats.token(*MYRIA), "Idempotency-Key": uuid.uuid4().hex}
        made = await stats.client.post("/releases", json={"period": 2026, "public": True}, headers=headers)
        assert made.status_code == 201, made.text
        release_id = made.json()["release_id"]
        paths = [f"/releases/{release_id}", f"/releases/{release_id}/report", "/releases?limit=100",
                 *(f"/releases/{release_id}/tables/{name}.csv" for name, *_ in STANDARD_TABLES)]  # fmt: skip
        answers = [made.text]
        for path in paths:
            answer = await stats.client.get(path, headers=stats.token(*MYRIA))
            assert answer.status_code == 200, path
            answers.append(answer.text)
        for path in (f"/public/releases/{release_id}", "/public/releases"):
            answers.append((await stats.client.get(path)).text)
        refs = Pseudonyms.from_settings(intake_svc.settings)
        audiences = all_audiences(intake_svc.settings.police_zones)
        secret = [rid, case_id, person_id, *(refs.case_ref(a, root) for a in audiences for root in (rid, case_id))]
        assert rows and len(answers) == len(paths) + 3 and len(secret) > 20
        for text in [*answers, *rows]:
            assert not [s for s in secret if s in text]
            assert not [s for s in (*CLEAR_STRINGS, BIRTH[0]) if s in text]
