"""Drive the real intake API through a referral's stages, for the intake integration tests.

The clear personal values below are distinctive on purpose: the privacy tests search every stored and published
byte for them.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from harbour.clock import ManualClock, today
from harbour.store import Actor, CommandContext
from schemas.intake import Centre, Region
from services.intake.domain import Lead
from tests.support.harness import RunningService

PAYOKE = "centre-payoke"
PAG_ASA = "centre-pag-asa"
POLICE = "police-federal"
OTHER_POLICE = "police-zone-antwerp"
PROSECUTOR = "prosecution-antwerp"
OPS = "ops"

SIGNALS = ["movement-and-control.identity-documents-withheld", "work-and-living-conditions.sleeping-at-workplace"]

# Clear values that must never be found in any event, projection row or Kafka message.
CIRCUMSTANCES = "Found by Zorbalinde in a car wash basement on Quarkstraat 17"
PERSON = {
    "names": "Ilvaneth Quorrimaa",
    "aliases": ["Vanny Q-Kestrel"],
    "sex": "female",
    "date_of_birth": "1999-03-14",
    "nationality": "NG",
    "languages": ["en", "yo"],
    "phone": "+32 470 98 76 54",
    "identity_document_numbers": ["PX-77881299"],
    "photo_reference": "photo-store://blob-8c1f-quorrimaa",
}
# The date of birth too: intake publishes only its age band (CaseProfiled), never the date. (The sex and the
# nationality's two letters are not distinctive enough to search for; CaseProfiled has no field for a country.)
CLEAR_STRINGS = [CIRCUMSTANCES, "Zorbalinde", "Quarkstraat", "Ilvaneth", "Quorrimaa", "Kestrel",
                 "470 98 76 54", "PX-77881299", "blob-8c1f", "1999-03-14"]  # fmt: skip

STAGES = ("submitted", "screened", "accepted", "interviewed", "consented", "admitted")


def clock() -> ManualClock:
    return ManualClock()


class IntakeClient:
    """The intake API as each party calls it."""

    def __init__(self, service: RunningService) -> None:
        self.service = service
        self.client = service.client

    def auth(self, org: str, role: str, **extra: str) -> dict[str, str]:
        return {**self.service.token(org, role), **extra}

    def centre(self, org: str = PAYOKE, role: str = "caseworker") -> dict[str, str]:
        return self.auth(org, role)

    def referral_body(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "target_centre": PAYOKE,
            "region": "flanders",
            "referrer_file_number": "AN.12.L1.004567/26",
            "exploitation_types": ["labour-exploitation"],
            "signal_ids": SIGNALS,
            "urgency": ["needs-shelter-tonight"],
            "circumstances": CIRCUMSTANCES,
        }
        body.update(overrides)
        return body

    async def refer(self, *, by: str = POLICE, role: str = "officer", headers: dict[str, str] | None = None,
                    **overrides: Any) -> dict[str, Any]:  # fmt: skip
        response = await self.client.post("/referrals", json=self.referral_body(**overrides),
                                          headers={**self.auth(by, role), **(headers or {})})  # fmt: skip
        assert response.status_code == 201, response.text
        return response.json()

    async def command(self, path: str, body: dict[str, Any] | None = None, *, org: str = PAYOKE,
                      role: str = "caseworker", status: int = 200) -> dict[str, Any]:  # fmt: skip
        response = await self.client.post(path, json=body or {}, headers=self.auth(org, role))
        assert response.status_code == status, response.text
        return response.json()

    async def referral_at(self, stage: str, **overrides: Any) -> dict[str, Any]:
        """A new referral (from the federal police to Payoke unless ``target_centre`` says otherwise) brought to
        ``stage``; returns the centre's last view of it (the case's after admission) with the referral id."""
        view = await self.refer(**overrides)
        rid = view["referral_id"]
        centre = overrides.get("target_centre", PAYOKE)
        if stage == "submitted":
            response = await self.client.get(f"/referrals/{rid}", headers=self.centre(centre))
            return response.json()
        steps = {
            "screened": (f"/referrals/{rid}/screening", {}, 200),
            "accepted": (f"/referrals/{rid}/decision", {"decision": "accept"}, 200),
            "interviewed": (f"/referrals/{rid}/interviews", {}, 200),
            "consented": (f"/referrals/{rid}/consents", {"scope": "guidance"}, 200),
            "admitted": (f"/referrals/{rid}/admission", {"eu_citizen": False}, 201),
        }
        for name in STAGES[1 : STAGES.index(stage) + 1]:
            path, body, status = steps[name]
            view = await self.command(path, body, org=centre, status=status)
        return {"referral_id": rid, **view}


async def open_lead(intake: IntakeClient) -> str:
    """A lead of Payoke's (a tip seen in Antwerp), saved as intake's consumer of TipSubmitted saves one: for the
    tests that run intake without its consumers (tests/integration/test_intake_leads.py drives the real one)."""
    runtime = intake.service.runtime
    lead = Lead(uuid4().hex)
    lead.open(centre=Centre.PAYOKE, region=Region.FLANDERS, postcode="2000", seen_on=None,
              exploitation_types=(), signal_ids=(), catalogue_version="signals-v1", submitted_on=today(runtime.clock),
              on=today(runtime.clock))  # fmt: skip
    async with runtime.store.transaction() as conn:
        await runtime.repository.save(lead, CommandContext(actor=Actor.system("access-test")), conn=conn)
    return lead.id
