"""The victim-status residence procedure the centre drives with the Immigration Office (stream "residence").

Every step is a request by the centre (:meth:`ResidenceProcedure.request`, :meth:`~ResidenceProcedure.request_renewal`)
followed by the Immigration Office's decision (:meth:`~ResidenceProcedure.issue` with dates computed by
:mod:`services.legal.rules`, or :meth:`~ResidenceProcedure.refuse` with a reason). Facts from the criminal
proceedings come in as a :class:`ProceedingsFacts` value, so the basis of each request is explicit.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from harbour.aggregate import Aggregate
from harbour.errors import RuleViolation
from harbour.events import DomainEvent
from schemas.intake import MinorFlagReason, MinorKind
from schemas.legal import (
    DocumentExpired,
    DocumentExpiryReminderDue,
    DocumentIssued,
    DocumentRefused,
    DocumentRenewed,
    DocumentRequested,
    EndingReason,
    HearingStayWarning,
    MinorityEffect,
    MinorityRecorded,
    ReflectionPeriodExtended,
    ReflectionPeriodStarted,
    RefusalReason,
    ResidenceDocument,
    ResidenceProcedureOpened,
    ResidenceStatusEnded,
    StayGapRecorded,
    StayLapsed,
    VoluntaryReturnChosen,
)
from services.legal import rules as law
from services.legal.rules import (
    DEFAULT_RULES,
    NO_FACTS,
    Deadline,
    DocumentValidity,
    MagistrateOpinion,
    ProceedingsFacts,
    ResidenceRules,
    StayOnDay,
    StayPeriod,
)

Doc = ResidenceDocument
# Where each document sits in the procedure: no request may go back to an earlier step.
STEP = {Doc.ANNEX_15: 1, Doc.ATTESTATION_OF_IMMATRICULATION: 2, Doc.A_CARD: 3, Doc.B_CARD: 4}


def opens_on_case_opened(*, eu_citizen: bool) -> bool:
    """Whether intake's CaseOpened opens the procedure by itself: not for EU citizens, only at their request."""
    return not eu_citizen


class ResidenceProcedure(Aggregate):
    stream_type = "residence"  # id = case id

    def __init__(self, id: str, *, rules: ResidenceRules = DEFAULT_RULES) -> None:
        super().__init__(id)
        self.rules = rules
        self.opened_on: date | None = None
        self.unaccompanied_minor = False  # decides the length of a first Annex 15 (kept in step with ``minor``)
        self.minor: MinorKind | None = None
        self.eu_citizen = False
        self.open_request: DocumentRequested | None = None
        self.current: DocumentValidity | None = None
        self.issued: set[ResidenceDocument] = set()
        self.ended: ResidenceStatusEnded | None = None
        self._reminded: set[tuple[ResidenceDocument, date, int]] = set()
        self._expired: set[tuple[ResidenceDocument, date]] = set()
        self._warned: set[tuple[date, str, date | None]] = set()
        self.periods: list[StayPeriod] = []  # every validity period, in decision order (the stay's history)
        self.gaps: list[StayGapRecorded] = []
        self._minority_facts: set[tuple[MinorKind | None, MinorFlagReason, date]] = set()

    # ---- opening and requests -------------------------------------------------------------------------------

    def open(
        self, *, on: date, unaccompanied_minor: bool = False, eu_citizen: bool = False, on_request: bool = False
    ) -> None:
        if self.exists:
            raise RuleViolation("the residence procedure is already open", field="case_id")
        if eu_citizen and not on_request:
            raise RuleViolation("for an EU citizen the procedure is opened only at their request", field="on_request")
        self._record(
            ResidenceProcedureOpened(
                case_id=self.id,
                opened_on=on,
                unaccompanied_minor=unaccompanied_minor,
                eu_citizen=eu_citizen,
                on_request=on_request,
            )
        )

    def request(self, document: ResidenceDocument, *, on: date, facts: ProceedingsFacts = NO_FACTS) -> None:
        """The centre asks for a first issue of ``document``; ``facts`` is the basis from the proceedings."""
        self._require_active(on)
        if any(STEP[d] >= STEP[document] for d in self.issued):
            hint = "; request its renewal" if document in self.issued and document in law.RENEWABLE else ""
            raise RuleViolation(f"{document} comes too late in the procedure{hint}", field="document")
        opinion: MagistrateOpinion | None = None
        match document:
            case Doc.ATTESTATION_OF_IMMATRICULATION:
                if facts.statement_on is None:
                    raise RuleViolation("an attestation needs a statement or complaint", field="statement")
            case Doc.A_CARD:
                opinion = facts.initial_opinion
                if opinion is None or not opinion.favourable:
                    raise RuleViolation(
                        "an A-card needs the magistrate's opinion that the person is a victim",
                        field="magistrate_opinion",
                    )
                self._require_investigation_ongoing(facts)
            case Doc.B_CARD:
                by_requisitions = (
                    self.rules.requisitions_suffice_for_b_card and facts.trafficking_requisitions_on is not None
                )
                if facts.trafficking_conviction_on is None and not by_requisitions:
                    raise RuleViolation("a B-card needs a conviction for trafficking", field="verdict")
        self._record(self._requested(document, on, renewal=False, opinion=opinion))

    def request_renewal(self, *, on: date, facts: ProceedingsFacts = NO_FACTS) -> None:
        """The centre asks to renew the document in force (attestation once, A-card with confirmation)."""
        self._require_active(on)
        current = self.current
        if current is None or current.document not in law.RENEWABLE:
            raise RuleViolation("only an attestation or an A-card can be renewed", field="document")
        opinion: MagistrateOpinion | None = None
        if current.document is Doc.ATTESTATION_OF_IMMATRICULATION:
            if current.renewals >= law.ATTESTATION_MAX_RENEWALS:
                raise RuleViolation("the attestation of immatriculation can be renewed only once", field="renewals")
            if facts.prosecutor_decided:
                raise RuleViolation(
                    "the attestation is renewed only while the prosecutor has not decided",
                    field="prosecutor_decision",
                )
        else:
            opinion = facts.renewal_confirmation
            # A confirmation given before the card in force was issued belongs to an earlier period.
            if opinion is None or not opinion.favourable or opinion.given_on < current.decided_on:
                raise RuleViolation(
                    "every A-card renewal needs the magistrate's confirmation", field="magistrate_confirmation"
                )
            self._require_investigation_ongoing(facts)
        self._record(self._requested(current.document, on, renewal=True, opinion=opinion))

    # ---- the Immigration Office's decision ------------------------------------------------------------------

    def issue(self, *, on: date) -> None:
        """The Immigration Office grants the pending request; validity follows from the rules and ``on``."""
        request = self._require_pending(on)
        if self.ended is not None:
            raise RuleViolation("nothing can be issued after the status ended", field="status")
        document = request.document
        if request.renewal:
            # request_renewal only accepts an attestation or an A-card, both with an end date.
            current = self.current
            assert current is not None and current.ends_on is not None
            starts_on = law.renewal_start(current.ends_on, on)
            ends_on = law.validity_end(document, starts_on)
            assert ends_on is not None
            self._record(
                DocumentRenewed(
                    case_id=self.id,
                    document=document,
                    decided_on=on,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    renewal_number=current.renewals + 1,
                )
            )
            self._record_gap(current, document, starts_on, on)
        elif document is Doc.ANNEX_15:
            previous = self.current
            self._record(
                ReflectionPeriodStarted(
                    case_id=self.id,
                    decided_on=on,
                    starts_on=on,
                    ends_on=law.reflection_end(on, unaccompanied_minor=self.unaccompanied_minor),
                    unaccompanied_minor=self.unaccompanied_minor,
                )
            )
            self._record_gap(previous, document, on, on)
        else:
            previous = self.current
            ends_on = law.validity_end(document, on)
            self._record(
                DocumentIssued(case_id=self.id, document=document, decided_on=on, starts_on=on, ends_on=ends_on)
            )
            self._record_gap(previous, document, on, on)
            if document is Doc.B_CARD:  # unlimited stay: the victim-status procedure has reached its end
                self._record(
                    ResidenceStatusEnded(case_id=self.id, ended_on=on, reason=EndingReason.STATUS_GRANTED_UNLIMITED)
                )

    def refuse(self, *, reason: RefusalReason, on: date) -> None:
        request = self._require_pending(on)
        self._record(
            DocumentRefused(
                case_id=self.id, document=request.document, decided_on=on, renewal=request.renewal, reason=reason
            )
        )

    # ---- endings --------------------------------------------------------------------------------------------

    def choose_voluntary_return(self, *, on: date) -> None:
        """Instead of cooperating, the person prepares a return during the reflection period."""
        self._require_not_ended(on)
        current = self.current
        in_reflection = current is not None and current.document is Doc.ANNEX_15 and current.valid_on(on)
        # EU citizens may have no document at all (it is optional for them): they can always choose to return.
        without_documents = self.eu_citizen and not self.issued
        if not (in_reflection or without_documents):
            raise RuleViolation("a voluntary return is chosen during the reflection period", field="document")
        self._record(VoluntaryReturnChosen(case_id=self.id, chosen_on=on))
        self._record(ResidenceStatusEnded(case_id=self.id, ended_on=on, reason=EndingReason.VOLUNTARY_RETURN))

    def end(self, *, reason: EndingReason, on: date) -> None:
        """Record that the status ended and why (e.g. a reason from :func:`proceedings.ending_for`).

        Allowed while a request is pending: the ending is exactly what the Immigration Office must know."""
        self._require_not_ended(on)
        if reason is EndingReason.STATUS_GRANTED_UNLIMITED:
            raise RuleViolation("the unlimited status is granted by issuing the B-card", field="reason")
        self._record(ResidenceStatusEnded(case_id=self.id, ended_on=on, reason=reason))

    # ---- timer-driven facts: each returns whether it recorded something (a stale or repeated timer does not) -

    def remind_expiry(self, *, document: ResidenceDocument, ends_on: date, days_before: int, on: date) -> bool:
        self._require_opened()
        key = (document, ends_on, days_before)
        if self.ended is not None or not self._is_current(document, ends_on) or key in self._reminded:
            return False
        due_on = law.reminder_due(ends_on, days_before)
        if on < due_on:
            raise RuleViolation(f"the reminder is due on {due_on}", field="on")
        self._record(
            DocumentExpiryReminderDue(
                case_id=self.id, document=document, ends_on=ends_on, days_before=days_before, due_on=due_on
            )
        )
        return True

    def expire(self, *, document: ResidenceDocument, ends_on: date, on: date) -> bool:
        self._require_opened()
        if not self._is_current(document, ends_on) or (document, ends_on) in self._expired:
            return False
        if on <= ends_on:
            raise RuleViolation(f"the document is valid until {ends_on}", field="on")
        self._record(
            DocumentExpired(
                case_id=self.id,
                document=document,
                ends_on=ends_on,
                expired_on=on,
                request_pending=self.open_request is not None,
            )
        )
        # The document's fact above; the person's below. An EU citizen stays under free movement: no lapse.
        if not self.eu_citizen:
            self._record(
                StayLapsed(
                    case_id=self.id,
                    document=document,
                    ends_on=ends_on,
                    lapsed_from=ends_on + timedelta(days=1),
                    request_pending=self.open_request is not None,
                )
            )
        return True

    def note_minority(self, *, minor: MinorKind | None, basis: MinorFlagReason, on: date) -> bool:
        """Apply intake's minority fact (``minor`` None: disproved); returns whether anything was recorded.

        An unaccompanied minor established while the Annex 15 runs extends it to three months from its start;
        established before the Annex 15 is issued, its first issue gets three months. Nothing else changes a
        document: a minority established once the reflection ended changes nothing, and disproving never
        shortens a document already issued (docs/minors.md). The same fact twice is recorded once.
        """
        self._require_opened()
        key = (minor, basis, on)
        if key in self._minority_facts:
            return False
        current = self.current
        extended_to: date | None = None
        if Doc.ANNEX_15 not in self.issued:
            effect = MinorityEffect.FIRST_ANNEX_15 if self.ended is None else MinorityEffect.NONE
        else:
            effect = MinorityEffect.NONE
            running = (
                self.ended is None
                and current is not None
                and current.document is Doc.ANNEX_15
                and current.ends_on is not None
                and on <= current.ends_on  # established while it ran (or before), even if we learn it late
            )
            if minor is MinorKind.UNACCOMPANIED and running:
                assert current is not None and current.ends_on is not None
                extended_to = law.extended_reflection_end(current.starts_on, current.ends_on)
                if extended_to is not None:
                    effect = MinorityEffect.REFLECTION_EXTENDED
        self._record(MinorityRecorded(case_id=self.id, minor=minor, basis=basis, fact_on=on, effect=effect))
        if extended_to is not None:
            assert current is not None and current.ends_on is not None
            self._record(
                ReflectionPeriodExtended(
                    case_id=self.id,
                    starts_on=current.starts_on,
                    previous_ends_on=current.ends_on,
                    ends_on=extended_to,
                    extended_on=on,
                )
            )
        return True

    def warn_for_hearing(self, *, hearing_on: date, court: str, on: date) -> bool:
        """Record a warning if the stay will not be valid on the hearing day (once per hearing and document)."""
        self._require_opened()
        if self.stay_valid_on(hearing_on):
            return False
        ends_on = self.current.ends_on if self.current else None
        key = (hearing_on, court, ends_on)
        if key in self._warned:
            return False
        self._record(
            HearingStayWarning(
                case_id=self.id,
                hearing_on=hearing_on,
                court=court,
                document=self.current.document if self.current else None,
                ends_on=ends_on,
                warned_on=on,
            )
        )
        return True

    # ---- queries --------------------------------------------------------------------------------------------

    def stay_valid_on(self, day: date) -> bool:
        return law.stay_valid_on(self.current, day, eu_citizen=self.eu_citizen)

    def history(self) -> list[StayPeriod]:
        """Every validity period with the last day it covered (the basis of "valid stay on day D?")."""
        return law.stay_history(self.periods)

    def stay_on(self, day: date) -> StayOnDay:
        return law.stay_on(self.history(), day, eu_citizen=self.eu_citizen)

    @property
    def reminders_given(self) -> int:
        return len(self._reminded)

    @property
    def hearing_warnings(self) -> int:
        return len(self._warned)

    @property
    def current_expired(self) -> bool:
        """The document in force passed its last valid day without a decision replacing it."""
        current = self.current
        return current is not None and (current.document, current.ends_on) in self._expired

    def deadlines(self) -> list[Deadline]:
        """Timers the document in force implies; none once the status ended (nothing left to renew)."""
        if self.ended is not None:
            return []
        return law.deadlines(self.current, reminder_days=self.rules.reminder_days)

    # ---- state ----------------------------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        match event:
            case ResidenceProcedureOpened():
                self.opened_on = event.opened_on
                self.unaccompanied_minor = event.unaccompanied_minor
                self.minor = MinorKind.UNACCOMPANIED if event.unaccompanied_minor else None
                self.eu_citizen = event.eu_citizen
            case DocumentRequested():
                self.open_request = event
            case ReflectionPeriodStarted() | DocumentIssued():
                self.open_request = None
                self.issued.add(event.document)
                self.current = DocumentValidity(event.document, event.decided_on, event.starts_on, event.ends_on)
                self.periods.append(StayPeriod(event.document, event.decided_on, event.starts_on, event.ends_on))
            case DocumentRenewed():
                self.open_request = None
                # A renewal decided before the card ran out starts the day after it ends: the person is covered
                # without a gap from the card's own start, not only from the renewed period's (else the stay
                # would read as invalid, and a hearing today raise a warning, until the renewed period begins).
                previous = self.current
                continuous = (
                    previous is not None
                    and previous.ends_on is not None
                    and (event.starts_on == previous.ends_on + timedelta(days=1))
                )
                starts_on = previous.starts_on if continuous and previous is not None else event.starts_on
                self.current = DocumentValidity(
                    event.document, event.decided_on, starts_on, event.ends_on, event.renewal_number
                )
                self.periods.append(StayPeriod(event.document, event.decided_on, event.starts_on, event.ends_on,
                                               event.renewal_number))  # fmt: skip
            case DocumentRefused():
                self.open_request = None
            case DocumentExpiryReminderDue():
                self._reminded.add((event.document, event.ends_on, event.days_before))
            case DocumentExpired():
                self._expired.add((event.document, event.ends_on))
            case HearingStayWarning():
                self._warned.add((event.hearing_on, event.court, event.ends_on))
            case ResidenceStatusEnded():
                self.ended = event
            case VoluntaryReturnChosen():
                pass  # the ending that follows it carries the state change
            case StayLapsed():
                pass  # DocumentExpired, recorded with it, carries the state change
            case StayGapRecorded():
                self.gaps.append(event)
            case MinorityRecorded():
                self._minority_facts.add((event.minor, event.basis, event.fact_on))
                self.minor = event.minor
                self.unaccompanied_minor = event.minor is MinorKind.UNACCOMPANIED
            case ReflectionPeriodExtended():
                if self.current is not None:
                    self.current = replace(self.current, ends_on=event.ends_on)
                if self.periods:
                    self.periods[-1] = replace(self.periods[-1], ends_on=event.ends_on)
            case _:
                super().apply(event)  # an event it does not know is a TypeError, never silently dropped

    # ---- helpers --------------------------------------------------------------------------------------------

    def _requested(
        self, document: ResidenceDocument, on: date, *, renewal: bool, opinion: MagistrateOpinion | None
    ) -> DocumentRequested:
        return DocumentRequested(
            case_id=self.id,
            document=document,
            requested_on=on,
            renewal=renewal,
            magistrate_opinion=opinion.outcome if opinion else None,
            magistrate_opinion_on=opinion.given_on if opinion else None,
        )

    def _record_gap(
        self, previous: DocumentValidity | None, document: ResidenceDocument, starts_on: date, on: date
    ) -> None:
        """Put on the file the days without valid stay before ``document``'s period, if its predecessor lapsed."""
        gap = law.stay_gap(previous.ends_on if previous else None, starts_on)
        if gap is None or previous is None or self.eu_citizen:  # an EU citizen's stay never depends on it
            return
        self._record(StayGapRecorded(case_id=self.id, previous_document=previous.document, document=document,
                                     gap_from=gap[0], gap_to=gap[1], decided_on=on))  # fmt: skip

    def _require_opened(self) -> None:
        if self.opened_on is None:
            raise RuleViolation("the residence procedure is not open", field="case_id")

    def _require_not_ended(self, on: date) -> None:
        self._require_opened()
        if self.ended is not None:
            raise RuleViolation(f"the status ended ({self.ended.reason})", field="status")
        if self.opened_on is not None and on < self.opened_on:
            raise RuleViolation("the date is before the procedure was opened", field="on")

    def _require_active(self, on: date) -> None:
        """A new request: the status runs and the previous request was decided (one at a time)."""
        self._require_not_ended(on)
        if self.open_request is not None:
            raise RuleViolation("a request is awaiting the Immigration Office's decision", field="request")

    def _require_pending(self, on: date) -> DocumentRequested:
        self._require_opened()
        if self.open_request is None:
            raise RuleViolation("there is no request to decide on", field="request")
        if on < self.open_request.requested_on:
            raise RuleViolation("a decision cannot precede the request", field="on")
        return self.open_request

    def _require_investigation_ongoing(self, facts: ProceedingsFacts) -> None:
        if facts.concluded_on is not None:
            raise RuleViolation("the judicial procedure is concluded", field="proceedings")

    def _is_current(self, document: ResidenceDocument, ends_on: date) -> bool:
        return self.current is not None and (self.current.document, self.current.ends_on) == (document, ends_on)
