"""A seeded random population of cases for the statistics service: each case's real events, and what it is.

``Person.truth`` says what a case is in plain words, written independently of the service's fold, so a test can
count the population directly and compare with what a release publishes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from harbour.events import DomainEvent
from schemas import intake, legal, tracks

REFERRERS = ("police-federal", "police-antwerp", "inspection-social", "ngo-pag-asa-outreach", "hospital-ghent",
             "social-service-liege", "prosecution-antwerp")  # fmt: skip
FORMS = [f.value for f in intake.ExploitationType]
# Skewed like real caseloads: most cases are labour or sexual exploitation, the other forms are rare.
FORM_WEIGHTS = [40, 45, 4, 6, 0.3, 2, 0.3, 0.4]


@dataclass
class Person:
    case_id: str
    events: list[DomainEvent] = field(default_factory=list)
    truth: dict[str, Any] = field(default_factory=dict)


def case_opened(
    case_id: str,
    *,
    on: date,
    centre: str = "centre-payoke",
    minor: bool = False,
    eu: bool = False,
    forms: tuple[str, ...] = ("labour-exploitation",),
    referrer: str = "police-federal",
) -> intake.CaseOpened:
    return intake.CaseOpened(
        case_id=case_id, referral_id=f"ref-{case_id}", centre=intake.Centre(centre), person_id=f"person-{case_id}",
        minor=minor, eu_citizen=eu, exploitation_types=tuple(intake.ExploitationType(f) for f in forms),
        needs_shelter_tonight=False, referring_organisation_id=referrer, region=intake.Region.FLANDERS,
        opened_on=on,
    )  # fmt: skip


def person(rng: random.Random, n: int, year: int = 2026) -> Person:
    case_id = f"case-{year}-{n:05d}"
    opened = date(year, 1, 1) + timedelta(days=rng.randrange(0, 365))
    count = rng.choices([0, 1, 2], [3, 85, 12])[0]
    forms = tuple(sorted(set(rng.choices(FORMS, FORM_WEIGHTS, k=count))))
    minor, eu = rng.random() < 0.15, rng.random() < 0.2
    centre = rng.choice(["centre-payoke", "centre-pag-asa", "centre-surya"])
    referrer = rng.choice(REFERRERS)
    p = Person(case_id)
    p.events.append(case_opened(case_id, on=opened, centre=centre, minor=minor, eu=eu, forms=forms, referrer=referrer))
    stage, days = "none", {}
    lapsed = returned = civil = False
    verdict = None
    district = "not-recorded"
    day = opened
    if not eu and rng.random() < 0.9:
        day += timedelta(days=rng.randrange(1, 20))
        p.events.append(
            legal.ReflectionPeriodStarted(
                case_id=case_id,
                decided_on=day,
                starts_on=day,
                ends_on=day + timedelta(days=45),
                unaccompanied_minor=minor,
            )
        )
        stage, days["annex-15"] = "annex-15", day
        for document, name, chance in ((legal.ResidenceDocument.ATTESTATION_OF_IMMATRICULATION, "attestation", 0.7),
                                       (legal.ResidenceDocument.A_CARD, "a-card", 0.6),
                                       (legal.ResidenceDocument.B_CARD, "b-card", 0.3)):  # fmt: skip
            if rng.random() >= chance:
                break
            day += timedelta(days=rng.randrange(20, 200))
            ends = None if name == "b-card" else day + timedelta(days=90)
            p.events.append(legal.DocumentIssued(case_id=case_id, document=document, decided_on=day, starts_on=day,
                                                 ends_on=ends))  # fmt: skip
            stage, days[name] = name, day
        if stage != "b-card" and rng.random() < 0.1:
            p.events.append(
                legal.StayLapsed(
                    case_id=case_id,
                    document=legal.ResidenceDocument.ANNEX_15,
                    ends_on=day,
                    lapsed_from=day + timedelta(days=1),
                    request_pending=False,
                )
            )
            lapsed = True
    if rng.random() < 0.05:
        p.events.append(legal.VoluntaryReturnChosen(case_id=case_id, chosen_on=day))
        returned = True
    if rng.random() < 0.6:
        district = rng.choice(["antwerp", "brussels", "liege", "ghent"])
        p.events.append(
            legal.ProsecutorialFileAssigned(
                case_id=case_id, office=f"prosecution-{district}", file_number="AN.12.L1.012345/26", assigned_on=opened
            )
        )
        if rng.random() < 0.3:
            p.events.append(legal.CivilPartyJoined(case_id=case_id, joined_on=opened + timedelta(days=30)))
            civil = True
        if rng.random() < 0.25:
            verdict = rng.choice(["convicted-of-trafficking", "acquitted"])
            p.events.append(legal.VerdictDelivered(
                case_id=case_id, court="criminal-court-antwerp", instance=legal.CourtInstance.FIRST_INSTANCE,
                delivered_on=opened + timedelta(days=300),
                defendants=(legal.DefendantVerdict(defendant="defendant-1", outcome=legal.VerdictOutcome(verdict)),),
            ))  # fmt: skip
    if rng.random() < 0.2:
        p.events.append(tracks.TrackClosed(case_id=case_id, reason="completed", closed_on=day))
    p.truth = {
        "year": opened.year, "quarter": f"q{(opened.month - 1) // 3 + 1}", "centre": centre,
        "form": forms[0] if len(forms) == 1 else ("not-recorded" if not forms else "multiple"),
        "age group": "minor" if minor else "adult", "citizenship": "eu" if eu else "non-eu", "stage": stage,
        "days": {"opened": opened, **days}, "lapsed": lapsed, "returned": returned, "civil": civil,
        "verdict": verdict, "district": district,
    }  # fmt: skip
    return p


def population(size: int = 2000, *, seed: int = 16, year: int = 2026) -> list[Person]:
    rng = random.Random(seed)
    return [person(rng, n, year) for n in range(size)]
