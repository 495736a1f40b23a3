"""A transfer moves the residence file and the proceedings (issue 13): legal applies tracks' ``TransferAccepted``
from the real tracks topic, and from then on only the receiving centre acts on the case, sees its deadlines and
requests its renewals; the former centre gets 403 on every command and reads the file as it stood at its
hand-over; a centre that never held the case gets 404.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from schemas.intake import CaseOpened, Centre, Region
from services.legal.app import DEFINITION
from tests.support.custody_contract import CENTRES, CustodyContract
from tests.support.legal_transfers import (
    TransferStage,
    shared_transfer_stage,  # noqa: F401 - the module's legal service with intake and tracks upstreams
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
PAYOKE, PAG_ASA, SURYA = CENTRES


@pytest.fixture(scope="module")
def stage(transfer_stage_for_module: TransferStage) -> TransferStage:
    return transfer_stage_for_module


def staff(stage: TransferStage, centre: str, role: str = "caseworker") -> dict[str, str]:
    return stage.legal.as_(centre, role)


async def residence_of(stage: TransferStage, case_id: str, centre: str) -> dict[str, Any] | None:
    response = await stage.legal.svc.client.get(f"/cases/{case_id}/residence", headers=staff(stage, centre))
    assert response.status_code in {200, 404}, response.text
    return response.json() if response.status_code == 200 else None


async def proceedings_of(stage: TransferStage, case_id: str, centre: str) -> dict[str, Any] | None:
    response = await stage.legal.svc.client.get(f"/cases/{case_id}/proceedings", headers=staff(stage, centre))
    assert response.status_code in {200, 404}, response.text
    return response.json() if response.status_code == 200 else None


async def deadline_cases(stage: TransferStage, centre: str) -> list[tuple[str, str]]:
    response = await stage.legal.svc.client.get(f"/centres/{centre}/deadlines?within_days=400&limit=500",
                                                headers=staff(stage, centre))  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["next"] is None  # one page holds them all: none is left unread
    return [(d["case_id"], d["kind"]) for d in response.json()["items"]]


async def version_of(stage: TransferStage, case_id: str, stream: str) -> int:
    return len(await stage.legal.svc.runtime.store.read_stream(f"{stream}-{case_id}"))


class TestLegalCustody(CustodyContract):
    @pytest.fixture(autouse=True)
    def _stage(self, stage: TransferStage) -> None:
        self.stage = stage

    def new_case_id(self) -> str:
        return f"case-{uuid.uuid4().hex[:10]}"

    async def open_case(self, case_id: str, centre: str) -> None:
        legal = self.stage.legal
        opened = CaseOpened(case_id=case_id, referral_id=f"ref-{case_id}", centre=Centre(centre),
                            person_id=f"person-{case_id}", minor=False, eu_citizen=False,
                            needs_shelter_tonight=False, referring_organisation_id="police-zone-antwerp",
                            region=Region.FLANDERS, opened_on=legal.today)  # fmt: skip
        await legal.intake.publish(f"case-{case_id}", case_id, [opened])

        async def followed() -> bool:
            return await residence_of(self.stage, case_id, centre) is not None

        await wait_until(followed, timeout=60)

    async def transfer(self, case_id: str, from_centre: str, to_centre: str) -> None:
        await self.stage.accept_transfer(case_id, from_centre, to_centre)

    async def redeliver_transfers(self, case_id: str) -> None:
        await self.stage.apply_again(case_id)

    async def act(self, case_id: str, centre: str) -> int:
        # A B-card without a conviction: through access, the domain refuses it (422) and nothing is recorded.
        response = await self.stage.legal.post(case_id, "residence/requests", {"document": "b-card"},
                                               staff(self.stage, centre))  # fmt: skip
        return response.status_code

    async def record(self, case_id: str, centre: str) -> Any:
        report = f"AN.{uuid.uuid4().hex[:8]}/26"
        body = {"kind": "statement", "unit": "police-zone-antwerp", "report_number": report}
        await self.stage.legal.ok(case_id, "proceedings/statements", body, staff(self.stage, centre))
        return report

    async def history(self, case_id: str, centre: str) -> list[Any] | None:
        seen = await proceedings_of(self.stage, case_id, centre)
        if seen is None:
            return None
        return [s["report_number"] for s in seen["summary"].get("statements", [])]


async def test_an_a_card_falling_due_during_the_hand_over_is_never_nobodys_and_moves_with_the_case_twice(
    stage: TransferStage,
) -> None:
    legal = stage.legal
    payoke = staff(stage, PAYOKE)
    case = await legal.open_case(centre=Centre.PAYOKE)
    await legal.statement_and_file(case)
    await legal.opinion(case)
    await legal.issue(case, "a-card")
    card_end = date.fromisoformat((await legal.residence(case))["current"]["ends_on"])

    # Requested, not accepted: Payoke still holds the case, sees its deadline and the reminder due meanwhile.
    await legal.move_to(card_end - timedelta(days=20))
    await stage.request_transfer(case, PAYOKE, SURYA)
    await legal.move_to(card_end - timedelta(days=14))
    assert (case, "document-expiry") in await deadline_cases(stage, PAYOKE)
    assert (case, "document-expiry") not in await deadline_cases(stage, SURYA)
    assert (await residence_of(stage, case, PAYOKE))["reminders_sent"] == 1  # type: ignore[index]
    assert await residence_of(stage, case, SURYA) is None

    # Accepted: the deadline is Sürya's, with the file as it is; Payoke can no longer act on it.
    await stage.accept_transfer(case, PAYOKE, SURYA)
    assert (case, "document-expiry") in await deadline_cases(stage, SURYA)
    assert (case, "document-expiry") not in await deadline_cases(stage, PAYOKE)
    at_surya = await residence_of(stage, case, SURYA)
    assert at_surya is not None and at_surya["as_of"] is None
    assert at_surya["next_deadline"]["due_on"] == card_end.isoformat() and at_surya["reminders_sent"] == 1
    residence_version = await version_of(stage, case, "residence")
    for path, body in [("residence/renewal-requests", {}),
                       ("residence/requests", {"document": "attestation-of-immatriculation"}),
                       ("proceedings/statements", {"kind": "statement", "unit": "police-zone-antwerp",
                                                   "report_number": "AN.2/26"})]:  # fmt: skip
        refused = await legal.post(case, path, body, payoke)
        assert refused.status_code == 403, (path, refused.text)
    assert await version_of(stage, case, "residence") == residence_version

    # Sürya requests the renewal with the magistrate's confirmation; the Immigration Office renews the card.
    await legal.opinion(case, step="a-card-renewal")
    await legal.ok(case, "residence/renewal-requests", {}, staff(stage, SURYA))
    await legal.ok(case, "residence/decisions", {"outcome": "issued"}, legal.immigration)
    renewed = await residence_of(stage, case, SURYA)
    assert renewed is not None and renewed["current"]["renewals"] == 1
    new_end = date.fromisoformat(renewed["current"]["ends_on"])
    assert new_end > card_end

    # Payoke reads its own period: the card as it handed it over, no confirmation, no renewal, no deadline.
    as_payoke_left = await residence_of(stage, case, PAYOKE)
    assert as_payoke_left is not None
    assert as_payoke_left["as_of"] is not None and as_payoke_left["next_deadline"] is None
    assert (as_payoke_left["current"]["renewals"], as_payoke_left["current"]["ends_on"]) == (0, card_end.isoformat())
    assert as_payoke_left["pending_request"] is None and as_payoke_left["reminders_sent"] == 1
    payoke_proceedings = await proceedings_of(stage, case, PAYOKE)
    assert payoke_proceedings is not None
    assert [o["step"] for o in payoke_proceedings["summary"]["opinions"]] == ["a-card-initial"]
    surya_proceedings = await proceedings_of(stage, case, SURYA)
    assert surya_proceedings is not None
    assert [o["step"] for o in surya_proceedings["summary"]["opinions"]] == ["a-card-initial", "a-card-renewal"]
    assert payoke_proceedings["version"] < surya_proceedings["version"]

    # Sürya -> PAG-ASA: the renewed card's deadline moves on; Sürya keeps its period (with the renewal).
    await legal.move_by(10)
    await stage.accept_transfer(case, SURYA, PAG_ASA)
    assert (case, "document-expiry") in await deadline_cases(stage, PAG_ASA)
    assert all(c != case for c, _ in await deadline_cases(stage, SURYA) + await deadline_cases(stage, PAYOKE))
    assert (await legal.post(case, "residence/ending", {"reason": "stopped-cooperating"},
                             staff(stage, SURYA))).status_code == 403  # fmt: skip
    surya_left = await residence_of(stage, case, SURYA)
    assert surya_left is not None and surya_left["as_of"] is not None
    assert surya_left["current"]["renewals"] == 1 and surya_left["current"]["ends_on"] == new_end.isoformat()
    assert (await residence_of(stage, case, PAYOKE))["current"]["renewals"] == 0  # type: ignore[index]
    at_pag_asa = await residence_of(stage, case, PAG_ASA)
    assert at_pag_asa is not None and at_pag_asa["next_deadline"]["due_on"] == new_end.isoformat()
    await legal.ok(case, "proceedings/stages", {"stage": "judicial-investigation"}, staff(stage, PAG_ASA))
    later = await proceedings_of(stage, case, SURYA)
    assert later is not None and "stages" not in later["summary"]
    async with legal.svc.runtime.pool.acquire() as conn:
        assert await conn.fetchval("SELECT centre FROM legal_cases WHERE case_id = $1", case) == PAG_ASA


async def test_a_case_followed_before_custody_was_kept_is_held_by_its_registered_centre(stage: TransferStage) -> None:
    legal = stage.legal
    case = await legal.open_case(centre=Centre.PAYOKE)
    async with legal.svc.runtime.pool.acquire() as conn:
        await conn.execute("DELETE FROM case_custody WHERE case_id = $1", case)  # as before this change
    assert await residence_of(stage, case, PAYOKE) is not None
    assert (case, "reflection-period-end") not in await deadline_cases(stage, PAYOKE)  # no Annex 15 issued yet
    assert await residence_of(stage, case, SURYA) is None
    # The migration seeds such cases; a transfer then ends the registered centre's period like any other.
    migration = (DEFINITION.migrations / "0002_custody_from_cases.sql").read_text()
    async with legal.svc.runtime.pool.acquire() as conn:
        await conn.execute(migration)
        assert await conn.fetchval("SELECT centre FROM case_custody WHERE case_id = $1 AND seq = 0", case) == PAYOKE
    await stage.accept_transfer(case, PAYOKE, SURYA)
    assert await residence_of(stage, case, SURYA) is not None
    assert (await residence_of(stage, case, PAYOKE))["as_of"] is not None  # type: ignore[index]


async def test_a_transfer_consumed_before_the_case_opened_still_gives_the_case_to_the_receiving_centre(
    stage: TransferStage,
) -> None:
    legal = stage.legal
    case_id = f"case-{uuid.uuid4().hex[:10]}"
    await stage.accept_transfer(case_id, PAYOKE, SURYA)  # tracks' topic ran ahead of intake's
    contract = TestLegalCustody()
    contract.stage = stage
    opened = CaseOpened(case_id=case_id, referral_id=f"ref-{case_id}", centre=Centre.PAYOKE,
                        person_id=f"person-{case_id}", minor=False, eu_citizen=False, needs_shelter_tonight=False,
                        referring_organisation_id="police-zone-antwerp", region=Region.FLANDERS,
                        opened_on=legal.today)  # fmt: skip
    await legal.intake.publish(f"case-{case_id}", case_id, [opened])

    async def followed() -> bool:
        return await residence_of(stage, case_id, SURYA) is not None

    await wait_until(followed, timeout=60)
    assert await contract.act(case_id, SURYA) == 422
    assert await contract.act(case_id, PAYOKE) == 403
    assert await contract.act(case_id, PAG_ASA) == 404
