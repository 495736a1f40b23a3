"""Only plausible facts in the legal file: the table of date rules every caller-typed date is checked against,
and the check of the one office id a caller types against the audience registry.

Checked in the command path (api/common.run_on), after access and before the command decides: a refused date
records nothing. Timers and other services' facts are not checked here: their dates are the domain's own
(a reminder's due day) or the owning service's (intake's admission day), and refusing them would only park
a consumer. Bounds are dates of the case's own history, read from the streams the command decides on.
docs/plausible-dates.md renders this table (``### legal``) and says why each rule is what it is.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from harbour.errors import RuleViolation
from harbour.plausibility import IN_TEN_YEARS, TODAY, Bound, DateRule, check
from schemas.audiences import PROSECUTION_OFFICES
from schemas.legal import ResidenceDocument
from services.legal.access import Action, CaseAccess
from services.legal.commands import LegalWork

A = Action
NOT_BEFORE, NOT_AFTER, AFTER = Bound.NOT_BEFORE, Bound.NOT_AFTER, Bound.AFTER

# History dates a rule may name (besides ``today``).
CASE_OPENED = "case_opened_on"  # the day intake admitted the person (legal_cases.opened_on)
FILE_ASSIGNED = "file_assigned_on"  # the first assignment of the criminal file to an office
OPINION_REQUESTED = "opinion_requested_on"  # the latest request of the opinion for the step given
VERDICT = "verdict_delivered_on"  # the latest verdict
CIVIL_PARTY = "civil_party_joined_on"
REQUEST = "request_made_on"  # the pending residence request
ATTESTATION = "attestation_issued_on"  # the issue of the attestation of immatriculation in force, not renewed

ATTESTATION_DOCUMENT = ResidenceDocument.ATTESTATION_OF_IMMATRICULATION
FUTURE = "nothing is decided or happens in the future: deadlines would start from a day not yet come"


def _rule(action: Action, field: str, bound: Bound, than: str, rule: str, why: str, *, required: bool = False
          ) -> DateRule:  # fmt: skip
    return DateRule(action.value, field, bound, than, rule, why, required)


def _not_future(action: Action, noun: str, field: str = "on") -> DateRule:
    return _rule(action, field, NOT_AFTER, TODAY, f"{noun}-not-in-future", FUTURE)


RULES: tuple[DateRule, ...] = (
    # ---- residence procedure -------------------------------------------------------------------------------
    _rule(A.OPEN_ON_REQUEST, "on", NOT_BEFORE, CASE_OPENED, "procedure-not-before-case-opened",
          "an EU citizen asks the centre that admitted them"),
    _not_future(A.OPEN_ON_REQUEST, "procedure"),
    _rule(A.REQUEST_DOCUMENT, "on", NOT_BEFORE, CASE_OPENED, "request-not-before-case-opened",
          "only a recognised centre requests, for a person it admitted"),
    _not_future(A.REQUEST_DOCUMENT, "request"),
    _rule(A.REQUEST_RENEWAL, "on", AFTER, ATTESTATION, "renewal-request-after-attestation-issued",
          "a renewal is asked for an attestation already in the person's hands: on its issue day it is none"),
    _not_future(A.REQUEST_RENEWAL, "renewal-request"),
    _rule(A.DECIDE, "on", NOT_BEFORE, REQUEST, "decision-not-before-request",
          "the Immigration Office issues only at a centre's request"),
    _not_future(A.DECIDE, "decision"),
    _rule(A.CHOOSE_RETURN, "on", NOT_BEFORE, CASE_OPENED, "return-not-before-case-opened",
          "the return is prepared during the reflection period, which starts at admission"),
    _not_future(A.CHOOSE_RETURN, "return"),
    _rule(A.END_STATUS, "on", NOT_BEFORE, CASE_OPENED, "ending-not-before-case-opened",
          "a status cannot end before the case it belongs to began"),
    _not_future(A.END_STATUS, "ending"),
    # ---- criminal proceedings ------------------------------------------------------------------------------
    _rule(A.RECORD_STATEMENT, "on", NOT_BEFORE, CASE_OPENED, "statement-not-before-case-opened",
          "a statement dated years before the case (2001 on a 2026 case) is a typing error"),
    _not_future(A.RECORD_STATEMENT, "statement"),
    _rule(A.ASSIGN_FILE, "on", NOT_BEFORE, CASE_OPENED, "assignment-not-before-case-opened",
          "the file the platform follows is the one opened for this case"),
    _not_future(A.ASSIGN_FILE, "assignment"),
    _rule(A.REQUEST_OPINION, "on", NOT_BEFORE, CASE_OPENED, "opinion-request-not-before-case-opened",
          "the opinion is asked for this person's residence step"),
    _not_future(A.REQUEST_OPINION, "opinion-request"),
    _rule(A.GIVE_OPINION, "on", NOT_BEFORE, OPINION_REQUESTED, "opinion-not-before-request",
          "an opinion answers a request: dated before it, one of the two dates is wrong"),
    # A magistrate may also give an opinion nobody asked for here (the Immigration Office asked by letter): it
    # is still given on a file of this case, so never before the file was assigned (an opinion dated 2001).
    _rule(A.GIVE_OPINION, "on", NOT_BEFORE, FILE_ASSIGNED, "opinion-not-before-file-assigned",
          "only the magistrate of the assigned file gives it: dated before the assignment, a date is wrong",
          required=True),
    _not_future(A.GIVE_OPINION, "opinion"),
    _rule(A.RECORD_STAGE, "on", NOT_BEFORE, CASE_OPENED, "stage-not-before-case-opened",
          "a stage of this case's investigation"),
    _rule(A.RECORD_STAGE, "on", NOT_BEFORE, FILE_ASSIGNED, "stage-not-before-file-assigned",
          "the investigation is led by the office holding the file (checked once one is known)"),
    _not_future(A.RECORD_STAGE, "stage"),
    _rule(A.SCHEDULE_HEARING, "on", NOT_BEFORE, FILE_ASSIGNED, "hearing-scheduled-not-before-file-assigned",
          "a court sets a hearing in a criminal file: none exists before one is assigned", required=True),
    _not_future(A.SCHEDULE_HEARING, "hearing-scheduling"),
    _rule(A.SCHEDULE_HEARING, "hearing_on", NOT_BEFORE, FILE_ASSIGNED, "hearing-not-before-file-assigned",
          "the hearing itself may be months ahead, never before the file existed", required=True),
    _rule(A.SCHEDULE_HEARING, "hearing_on", NOT_AFTER, IN_TEN_YEARS, "hearing-within-ten-years",
          "a court sets hearings months, at most a few years, ahead: 9999-12-31 is a typing error"),
    _rule(A.JOIN_CIVIL_PARTY, "on", NOT_BEFORE, CASE_OPENED, "civil-party-not-before-case-opened",
          "a civil party may join before an investigating judge before any office holds a file; not before "
          "the case"),
    _not_future(A.JOIN_CIVIL_PARTY, "civil-party"),
    _rule(A.FILE_REQUISITIONS, "on", NOT_BEFORE, FILE_ASSIGNED, "requisitions-not-before-file-assigned",
          "requisitions are the prosecutor's, in the file it holds", required=True),
    _not_future(A.FILE_REQUISITIONS, "requisitions"),
    _rule(A.RECORD_VERDICT, "on", NOT_BEFORE, FILE_ASSIGNED, "verdict-not-before-file-assigned",
          "a verdict ends a criminal file: a 2019 verdict on a file assigned in 2026 is another case's",
          required=True),
    _not_future(A.RECORD_VERDICT, "verdict"),
    _rule(A.LODGE_APPEAL, "on", NOT_BEFORE, VERDICT, "appeal-not-before-verdict",
          "an appeal is lodged against a verdict already delivered"),
    _not_future(A.LODGE_APPEAL, "appeal"),
    _rule(A.AWARD_COMPENSATION, "on", NOT_BEFORE, CIVIL_PARTY, "compensation-not-before-civil-party",
          "damages are awarded to a civil party, so after it joined"),
    _not_future(A.AWARD_COMPENSATION, "compensation"),
    _rule(A.CONCLUDE, "on", NOT_BEFORE, CASE_OPENED, "conclusion-not-before-case-opened",
          "the proceedings this case follows cannot close before it began"),
    _rule(A.CONCLUDE, "on", NOT_BEFORE, FILE_ASSIGNED, "conclusion-not-before-file-assigned",
          "a dismissal or judgment closes the file an office holds (checked once one is known)"),
    _not_future(A.CONCLUDE, "conclusion"),
)  # fmt: skip


def dates_of(body: Any, today: date) -> dict[str, date | None]:
    """The dates a command body carries, by field name; ``on`` left out means today."""
    values: dict[str, date | None] = {name: value for name, value in body if isinstance(value, date)}
    values["on"] = values.get("on") or today
    return values


async def history(work: LegalWork, case: CaseAccess, body: Any) -> dict[str, date | None]:
    """The case's dates the rules are bounded by, from the streams the command decides on (loaded once)."""
    proceedings = await work.proceedings(case.case_id)
    residence = await work.residence_or_new(case.case_id)
    step = getattr(body, "step", None)
    current = residence.current
    return {
        CASE_OPENED: case.opened_on,
        FILE_ASSIGNED: proceedings.assigned_on,
        OPINION_REQUESTED: proceedings.requested_on(step) if step is not None else None,
        VERDICT: proceedings.last_verdict_on,
        CIVIL_PARTY: proceedings.civil_party_on,
        REQUEST: residence.open_request.requested_on if residence.open_request else None,
        # Once renewed, the attestation cannot be renewed again (a domain rule, which then says so itself).
        ATTESTATION: current.decided_on
        if current and current.document is ATTESTATION_DOCUMENT and current.renewals == 0
        else None,
    }


def check_office(office: str) -> None:
    """An office id must be one the audience registry knows, or its milestones would reach nobody."""
    if office not in PROSECUTION_OFFICES:
        raise RuleViolation("no such prosecutor's office or labour auditorate", field="office",
                            allowed=list(PROSECUTION_OFFICES))  # fmt: skip


async def check_command(work: LegalWork, case: CaseAccess, action: Action, body: Any) -> None:
    """Refuse (422, naming the field and the rule) a command whose ids or dates cannot be true."""
    office = getattr(body, "office", None)
    if office is not None:
        check_office(office)
    if not any(r.command == action.value for r in RULES):
        return
    check(RULES, action.value, dates_of(body, work.today), await history(work, case, body), today=work.today)
