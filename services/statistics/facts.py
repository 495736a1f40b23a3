"""The de-identified fact table's row: one per case, coarse attributes only, folded from the domain events.

Pure: no I/O. A row is keyed by an HMAC of the case id under the service's own key (``fact_key``): it lets the
consumer find the row again when the next event of the case arrives, and it is never published, returned or
logged. The row holds no id of any kind: no case, referral or person id, no pseudonym, no file number.

What the events carry, coarsened when the fact is made (docs: services/statistics/README.md):

* intake's ``CaseOpened``: the day of admission (kept as year and quarter, plus the day for durations, which
  are only ever published as quartiles over >= k cases), the centre, the region, minor or adult, EU citizen or
  not, the forms of exploitation, the kind of organisation that referred (never the organisation itself);
  ``MinorityEstablished`` / ``MinorityDisproved`` correct minor or adult.
* legal's residence procedure: the furthest stage reached (Annex 15 → attestation → A-card → B-card) and its
  days, lapses of stay, voluntary return; the proceedings: the judicial district of the office the file went
  to, civil party, the verdict.
* tracks: how the support track closed, and which centre holds the case after a transfer.

Sex, an age band finer than minor/adult and citizenship by world region are in no event: date of birth and
nationality are sealed personal data in intake's ``IdentityCaptured``, and statistics never unseals them.
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
    age_group: str = NOT_RECORDED  # "minor" / "adult"
    citizenship: str = NOT_RECORDED  # "eu" / "non-eu"
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
                age_group="minor" if event.minor else "adult", citizenship="eu" if event.eu_citizen else "non-eu",
                forms=tuple(sorted(f.value for f in event.exploitation_types)),
                referrer_kind=referrer_kind(event.referring_organisation_id),
            )  # fmt: skip
        case intake.MinorityEstablished():
            return replace(fact, age_group="minor")
        case intake.MinorityDisproved():
            return replace(fact, age_group="adult")
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
INTAKE_EVENTS = frozenset({"CaseOpened", "MinorityEstablished", "MinorityDisproved"})
LEGAL_EVENTS = frozenset({"ReflectionPeriodStarted", "DocumentIssued", "DocumentRenewed", "ReflectionPeriodExtended",
                          "StayLapsed", "VoluntaryReturnChosen", "ProsecutorialFileAssigned", "CivilPartyJoined",
                          "VerdictDelivered"})  # fmt: skip
TRACKS_EVENTS = frozenset({"TrackClosed", "TrackReopened", "TransferAccepted"})
