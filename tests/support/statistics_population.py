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
from services.intake import profile

REFERRERS = ("police-federal", "police-antwerp", "inspection-social", "ngo-pag-asa-outreach", "hospital-ghent",
             "social-service-liege", "prosecution-antwerp")  # fmt: skip
FORMS = [f.value for f in intake.ExploitationType]
# Skewed like real caseloads: most cases are labour or sexual exploitation, the other forms are rare.
FORM_WEIGHTS = [40, 45, 4, 6, 0.3, 2, 0.3, 0.4]
# Nationalities (ISO 3166-1 alpha-2) weighted like the centres' caseloads: Africa, Europe inside and outside the
# EU, Asia, a few from the Americas and hardly anyone from Oceania.
NATIONALITIES = {"NG": 14, "MA": 10, "ER": 3, "GN": 2, "RO": 9, "BG": 6, "PL": 3, "FR": 1, "AL": 6, "UA": 5, "MD": 2,
                 "IN": 5, "CN": 5, "VN": 4, "PH": 2, "AF": 3, "TR": 2, "BR": 4, "CO": 2, "PE": 1, "AU": 0.1,
                 "FJ": 0.05}  # fmt: skip
# Sex by form: women in most of sexual exploitation, men in most of labour exploitation (Eurostat's pattern).
# The UN M49 region of each nationality drawn, written out here apart from intake's table.
REGIONS = {**dict.fromkeys(["NG", "MA", "ER", "GN"], "africa"),
           **dict.fromkeys(["RO", "BG", "PL", "FR", "AL", "UA", "MD"], "europe"),
           **dict.fromkeys(["IN", "CN", "VN", "PH", "AF", "TR"], "asia"),
           **dict.fromkeys(["BR", "CO", "PE"], "americas"),
           **dict.fromkeys(["AU", "FJ"], "oceania")}  # fmt: skip
FEMALE_SHARE = {"sexual-exploitation": 0.92, "labour-exploitation": 0.25}


def draw_sex(rng: random.Random, form: str) -> intake.Sex:
    roll = rng.random()
    if roll < 0.015:
        return intake.Sex.OTHER
    if roll < 0.04:
        return intake.Sex.UNKNOWN
    return intake.Sex.FEMALE if rng.random() < FEMALE_SHARE.get(form, 0.6) else intake.Sex.MALE


def draw_birth(rng: random.Random, identified: date, minor: bool) -> date:
    """A date of birth whose age on ``identified`` is a minor's (6 to 17) or an adult's (18 to 69)."""
    years = rng.choices(range(6, 18), [1] * 6 + [3] * 6)[0] if minor else rng.randrange(18, 70)
    birthday = date(identified.year - years, identified.month, min(identified.day, 28))  # the last one before
    return birthday - timedelta(days=rng.randrange(0, 360))


def case_profiled(case_id: str | None, *, referral: str, on: date, sex: intake.Sex, born: date | None,
                  nationality: str | None, identified: date) -> intake.CaseProfiled:  # fmt: skip
    """What intake records from a clear identity (its own coarsening, services/intake/profile.py)."""
    return intake.CaseProfiled(
        referral_id=referral, case_id=case_id, sex=sex, age_band=profile.age_band(born, identified),
        citizenship=profile.citizenship(nationality), world_region=profile.world_region(nationality), profiled_on=on,
    )  # fmt: skip


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
    identified = opened - timedelta(days=rng.randrange(0, 10))  # the referral's day: the profile's age is on it
    count = rng.choices([0, 1, 2], [3, 85, 12])[0]
    forms = tuple(sorted(set(rng.choices(FORMS, FORM_WEIGHTS, k=count))))
    form = forms[0] if len(forms) == 1 else ("not-recorded" if not forms else "multiple")
    # Minor or adult as the case is decided; the date of birth mostly agrees, and 3% of the time it does not (a
    # document says an adult, the age assessment a minor, or the reverse): the band then reads unknown.
    minor = rng.random() < 0.15
    contradicted = rng.random() < 0.03
    born = None if rng.random() < 0.06 else draw_birth(rng, identified, minor != contradicted)
    nationality = None if rng.random() < 0.05 else rng.choices(list(NATIONALITIES), list(NATIONALITIES.values()))[0]
    # The centre's EU flag at admission: the nationality's, or a guess without one (and 1% typed wrong).
    eu = (nationality in profile.EU_MEMBER_STATES) if nationality else rng.random() < 0.2
    stated_eu = eu != (rng.random() < 0.01)
    sex = draw_sex(rng, form)
    centre = rng.choice(["centre-payoke", "centre-pag-asa", "centre-surya"])
    referrer = rng.choice(REFERRERS)
    p = Person(case_id)
    # CaseOpened.minor is "an unaccompanied minor"; the Guardianship decision may come later and say otherwise.
    decision = "none" if rng.random() < 0.9 else "established" if minor else "disproved"
    opened_minor = (not minor) if decision != "none" else minor
    referral = f"ref-{case_id}"
    profiled = case_profiled(case_id, referral=referral, on=opened, sex=sex, born=born, nationality=nationality,
                             identified=identified)  # fmt: skip
    # The referral's own profile first (none case id, counted nowhere), sometimes an earlier, different one.
    early = case_profiled(None, referral=referral, on=identified, sex=intake.Sex.UNKNOWN, born=None,
                          nationality="FJ", identified=identified)  # fmt: skip
    opening = case_opened(case_id, on=opened, centre=centre, minor=opened_minor, eu=stated_eu, forms=forms,
                          referrer=referrer)  # fmt: skip
    # One in ten profiles is folded before its CaseOpened (another order of the same facts).
    p.events += [early, profiled, opening] if rng.random() < 0.1 else [early, opening, profiled]
    if decision == "established":
        p.events.append(intake.MinorityEstablished(case_id=case_id, kind=intake.MinorKind.ACCOMPANIED,
                                                   basis=intake.MinorFlagReason.AGE_ASSESSMENT,
                                                   established_on=opened))  # fmt: skip
    elif decision == "disproved":
        p.events.append(intake.MinorityDisproved(case_id=case_id, basis=intake.MinorFlagReason.AGE_ASSESSMENT,
                                                 disproved_on=opened))  # fmt: skip
    stage, days = "none", {}
    lapsed = returned = civil = False
    verdict = None
    district = "not-recorded"
    day = opened
    if not stated_eu and rng.random() < 0.9:
        day += timedelta(days=rng.randrange(1, 20))
        p.events.append(
            legal.ReflectionPeriodStarted(
                case_id=case_id,
                decided_on=day,
                starts_on=day,
                ends_on=day + timedelta(days=45),
                unaccompanied_minor=opened_minor,
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
    # What the case is, in plain words: the band from the age in whole years on the day of identification (unless
    # it contradicts the minor / adult decision), citizenship from the nationality (else the centre's flag).
    age = None
    if born is not None:
        age = identified.year - born.year - ((identified.month, identified.day) < (born.month, born.day))
    band = "unknown" if age is None else next(
        (b for top, b in ((11, "0-11"), (17, "12-17"), (24, "18-24"), (34, "25-34"), (44, "35-44"), (54, "45-54"),
                          (64, "55-64")) if age <= top), "65+")  # fmt: skip
    if age is not None and (age < 18) != minor:
        band = "unknown"
    citizenship = ("eu" if eu else "non-eu") if nationality else ("eu" if stated_eu else "non-eu")
    p.truth = {
        "year": opened.year, "quarter": f"q{(opened.month - 1) // 3 + 1}", "centre": centre, "form": form,
        "age group": "minor" if minor else "adult", "citizenship": citizenship, "stage": stage,
        "days": {"opened": opened, **days}, "lapsed": lapsed, "returned": returned, "civil": civil,
        "verdict": verdict, "district": district, "sex": sex.value, "age band": band,
        "region": REGIONS.get(nationality or "", "unknown"),
    }  # fmt: skip
    return p


def population(size: int = 2000, *, seed: int = 16, year: int = 2026) -> list[Person]:
    rng = random.Random(seed)
    return [person(rng, n, year) for n in range(size)]
