"""The de-identified fact table's row: one per case, coarse attributes only, folded from the domain events.

Pure: no I/O. A row is keyed by an HMAC of the case id under the service's own key (``fact_key``): it lets the
consumer find the row again when the next event of the case arrives, and it is never published, returned or
logged. The row holds no id of any kind: no case, referral or person id, no pseudonym, no file number.

What the events carry, coarsened when the fact is made (docs: services/statistics/README.md):

* intake's ``CaseOpened``: the day of admission (kept as year and quarter, plus the day for durations, which
  are only ever published as quartiles over >= k cases), the centre, the region, minor or adult, EU citizen or
  not, the forms of exploitation, the kind of organisation that referred (never the organisation itself);
  ``MinorityEstablished`` / ``MinorityDisproved`` correct minor or adult.
* intake's ``CaseProfiled`` under the case (``case_id`` set): the person's sex, age band at identification,
  citizenship group and UN M49 world region, as intake coarsened them (services/intake/profile.py; statistics
  never sees a date of birth or a nationality). The last one folded is the case's profile. One with no
  ``case_id`` is a referral's, not yet a case's: it counts nothing (the admission records it again under the
  case). The profile's fields are kept apart from CaseOpened's, so a profile folded before its CaseOpened (a
  replay, another consumer's order) lands on the same row and neither overwrites the other.
* legal's residence procedure: the furthest stage reached (Annex 15 → attestation → A-card → B-card) and its
  days, lapses of stay, voluntary return; the proceedings: the judicial district of the office the file went
  to, civil party, the verdict.
* tracks: how the support track closed, and which centre holds the case after a transfer.

Precedence, where events of two kinds speak of one attribute (each kind kept in its own field and the attribute
decided when read, so the order in which events of different kinds arrive changes nothing; of one kind, the
last folded wins):

* **minor / adult** (``age_group``): the Guardianship decision, the last ``MinorityEstablished`` /
  ``MinorityDisproved``, over ``CaseOpened.minor`` (which says only "unaccompanied minor" at admission). The age
  band never decides it: a band is made from a date of birth the person or a document gave, the decision is
  the one the procedure follows (3 months of reflection, a guardian).
* **age band** (``age_band``): the profile's band, except where it contradicts the minor / adult decision (a
  band under 18 for a case decided adult, or 18 and over for a minor): then the band reads ``unknown``, so that
  the age-band table's minors (0-11 and 12-17) are always a part of the minors of every other table.
* **citizenship** (``citizenship``): the profile's group when it is known (it is made from the nationality),
  else ``CaseOpened.eu_citizen`` (what the centre stated at admission).
* **sex** and **world region**: the profile's only; ``unknown`` without one.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

from harbour.events import DomainEvent
from harbour.organisations import BELGIAN_DISTRICTS, org_kind
from schemas import intake, legal, tracks

# Residence stages in the order a case goes through them: the fact keeps the furthest reached.
STAGES: tuple[str, ...] = ("none", "annex-15", "attestation", "a-card", "b-card")
_STAGE_OF_DOCUMENT = {
    legal.ResidenceDocument.ANNEX_15: "annex-15",
    legal.ResidenceDocument.ATTESTATION_OF_IMMATRICULATION: "attestation",
    legal.ResidenceDocument.A_CARD: "a-card",
    legal.ResidenceDocument.B_CARD: "b-card",
}
# A verdict over several defendants counts as its gravest outcome, in this order.
VERDICTS: tuple[str, ...] = tuple(v.value for v in legal.VerdictOutcome)
NOT_RECORDED = "not-recorded"
MULTIPLE = "multiple"
UNKNOWN = "unknown"  # the profile's own word for a value not known (schemas.intake: Sex, AgeBand, ...)
MINOR_BANDS = frozenset({intake.AgeBand.UNDER_12.value, intake.AgeBand.FROM_12_TO_17.value})


def fact_key(secret: bytes, case_id: str) -> bytes:
    """The row's internal key: HMAC-SHA256 of the case id, so the table cannot be joined back to a case
    without the service's key (a plain hash of a guessable id could be)."""
    return hmac.new(secret, case_id.encode(), hashlib.sha256).digest()


def referrer_kind(organisation: str) -> str:
    try:
        return org_kind(organisation).value
    except ValueError:
        return "other"


def district_of(office: str) -> str:
    """A prosecution office or labour auditorate names its judicial district; the federal prosecutor has none."""
    for prefix in ("prosecution-", "labour-auditorate-"):
        if office.startswith(prefix) and office[len(prefix) :] in BELGIAN_DISTRICTS:
            return office[len(prefix) :]
    return "federal" if office == "federal-prosecution" else "other"


def form_of(forms: tuple[str, ...]) -> str:
    """One form per case, so that each table adds up to its margins: the form, or "multiple" / "not-recorded"."""
    if not forms:
        return NOT_RECORDED
    return forms[0] if len(forms) == 1 else MULTIPLE


@dataclass(frozen=True)
class Fact:
    opened_on: date | None = None  # None until intake's CaseOpened arrived (topics are not ordered across)
    centre: str | None = None  # the centre that admitted the case (the centre of identification, in releases)
    # The centre holding the case now, once a transfer moved it (tracks' TransferAccepted); None: the admitting one.
    # Only the operational counts read it: a centre's open cases are the ones it guides today.
    holding_centre: str | None = None
    region: str | None = None
    opened_minor: bool | None = None  # CaseOpened.minor (an unaccompanied minor at admission)
    minority: str | None = None  # "minor" / "adult": the last Guardianship decision (MinorityEstablished/Disproved)
    eu_citizen: bool | None = None  # CaseOpened.eu_citizen
    # The last CaseProfiled under the case (intake's coarse profile); "unknown" until one arrived.
    sex: str = UNKNOWN  # schemas.intake.Sex
    profiled_age_band: str = UNKNOWN  # schemas.intake.AgeBand, as intake made it (see ``age_band``)
    profiled_citizenship: str = UNKNOWN  # schemas.intake.CitizenshipGroup
    world_region: str = UNKNOWN  # schemas.intake.WorldRegion
    forms: tuple[str, ...] = ()
    referrer_kind: str = NOT_RECORDED
    district: str = NOT_RECORDED
    stage: str = "none"
    stage_days: dict[str, date] = field(default_factory=dict)  # first day each stage was reached
    lapsed: bool = False
    without_valid_stay: bool = False
    document_ends_on: date | None = None
    voluntary_return: bool = False
    civil_party: bool = False
    verdict: str | None = None
    verdict_on: date | None = None
    track_closure: str | None = None

    @property
    def counted(self) -> bool:
        return self.opened_on is not None

    @property
    def year(self) -> int | None:
        return self.opened_on.year if self.opened_on else None

    @property
    def quarter(self) -> str:
        return f"q{(self.opened_on.month - 1) // 3 + 1}" if self.opened_on else NOT_RECORDED

    @property
    def form(self) -> str:
        return form_of(self.forms)

    @property
    def age_group(self) -> str:
        """Minor or adult: the Guardianship decision over CaseOpened.minor (module docstring)."""
        if self.minority is not None:
            return self.minority
        if self.opened_minor is None:
            return NOT_RECORDED
        return "minor" if self.opened_minor else "adult"

    @property
    def age_band(self) -> str:
        """The profile's band, or ``unknown`` where it contradicts the minor / adult decision."""
        band, group = self.profiled_age_band, self.age_group
        if band == UNKNOWN or group == NOT_RECORDED or (band in MINOR_BANDS) == (group == "minor"):
            return band
        return UNKNOWN

    @property
    def citizenship(self) -> str:
        """EU or non-EU: the profile's group when known, else CaseOpened.eu_citizen."""
        if self.profiled_citizenship != UNKNOWN:
            return self.profiled_citizenship
        if self.eu_citizen is None:
            return NOT_RECORDED
        return "eu" if self.eu_citizen else "non-eu"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["forms"] = list(self.forms)
        data["stage_days"] = {k: v.isoformat() for k, v in self.stage_days.items()}
        for name in ("opened_on", "document_ends_on", "verdict_on"):
            data[name] = data[name].isoformat() if data[name] else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fact:
        values = dict(data)
        # A row folded before the profile was counted kept minor/adult and EU/non-EU as decided values: read them
        # as what CaseOpened said (the Guardianship's correction already in them), until the case is folded again.
        legacy_group, legacy_citizenship = values.pop("age_group", None), values.pop("citizenship", None)
        if legacy_group in ("minor", "adult"):
            values.setdefault("opened_minor", legacy_group == "minor")
        if legacy_citizenship in ("eu", "non-eu"):
            values.setdefault("eu_citizen", legacy_citizenship == "eu")
        values["forms"] = tuple(values["forms"])
        values["stage_days"] = {k: date.fromisoformat(v) for k, v in values["stage_days"].items()}
        for name in ("opened_on", "document_ends_on", "verdict_on"):
            values[name] = date.fromisoformat(values[name]) if values[name] else None
        return cls(**values)


def _reached(fact: Fact, document: legal.ResidenceDocument, on: date) -> Fact:
    stage = _STAGE_OF_DOCUMENT[document]
    days = dict(fact.stage_days)
    days.setdefault(stage, on)
    furthest = max(fact.stage, stage, key=STAGES.index)
    return replace(fact, stage=furthest, stage_days=days)


def fold(fact: Fact, event: DomainEvent) -> Fact:
    """The fact after ``event``; an event statistics does not count leaves it as it was."""
    match event:
        case intake.CaseOpened():
            return replace(
                fact, opened_on=event.opened_on, centre=event.centre.value, region=event.region.value,
                opened_minor=event.minor, eu_citizen=event.eu_citizen,
                forms=tuple(sorted(f.value for f in event.exploitation_types)),
                referrer_kind=referrer_kind(event.referring_organisation_id),
            )  # fmt: skip
        case intake.CaseProfiled() if event.case_id is not None:  # a referral's profile counts nothing
            return replace(fact, sex=event.sex.value, profiled_age_band=event.age_band.value,
                           profiled_citizenship=event.citizenship.value,
                           world_region=event.world_region.value)  # fmt: skip
        case intake.MinorityEstablished():
            return replace(fact, minority="minor")
        case intake.MinorityDisproved():
            return replace(fact, minority="adult")
        case legal.ReflectionPeriodStarted():
            fact = _reached(fact, legal.ResidenceDocument.ANNEX_15, event.starts_on)
            return replace(fact, without_valid_stay=False, document_ends_on=event.ends_on)
        case legal.DocumentIssued():
            fact = _reached(fact, event.document, event.starts_on)
            return replace(fact, without_valid_stay=False, document_ends_on=event.ends_on)
        case legal.DocumentRenewed():
            return replace(fact, without_valid_stay=False, document_ends_on=event.ends_on)
        case legal.ReflectionPeriodExtended():
            return replace(fact, document_ends_on=event.ends_on)
        case legal.StayLapsed():
            return replace(fact, lapsed=True, without_valid_stay=True, document_ends_on=None)
        case legal.VoluntaryReturnChosen():
            return replace(fact, voluntary_return=True)
        case legal.ProsecutorialFileAssigned():
            return replace(fact, district=district_of(event.office))
        case legal.CivilPartyJoined():
            return replace(fact, civil_party=True)
        case legal.VerdictDelivered():
            gravest = min((d.outcome.value for d in event.defendants), key=VERDICTS.index)
            return replace(fact, verdict=gravest, verdict_on=fact.verdict_on or event.delivered_on)
        case tracks.TransferAccepted():
            return replace(fact, holding_centre=event.to_centre.value)
        case tracks.TrackClosed():
            return replace(fact, track_closure=str(event.reason))
        case tracks.TrackReopened():
            return replace(fact, track_closure=None)
    return fact


# What each topic brings to the fact (the subscriptions' filters).
INTAKE_EVENTS = frozenset({"CaseOpened", "CaseProfiled", "MinorityEstablished", "MinorityDisproved"})
LEGAL_EVENTS = frozenset({"ReflectionPeriodStarted", "DocumentIssued", "DocumentRenewed", "ReflectionPeriodExtended",
                          "StayLapsed", "VoluntaryReturnChosen", "ProsecutorialFileAssigned", "CivilPartyJoined",
                          "VerdictDelivered"})  # fmt: skip
TRACKS_EVENTS = frozenset({"TrackClosed", "TrackReopened", "TransferAccepted"})
