"""The case as the legal service follows it (stream "legalcase"): which centre guides it, minor and EU flags.

Separate from the residence procedure because an EU citizen's case is followed (hearings, proceedings) even
when no procedure is opened for them.
"""

from __future__ import annotations

from datetime import date

from harbour.aggregate import Aggregate
from harbour.errors import RuleViolation
from harbour.events import DomainEvent
from schemas.legal import LegalCaseRegistered


class LegalCase(Aggregate):
    stream_type = "legalcase"  # id = case id

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.centre: str | None = None
        self.unaccompanied_minor = False
        self.eu_citizen = False
        self.opened_on: date | None = None

    def register(self, *, centre: str, unaccompanied_minor: bool, eu_citizen: bool, opened_on: date) -> None:
        if self.exists:
            raise RuleViolation("the case is already followed", field="case_id")
        self._record(
            LegalCaseRegistered(
                case_id=self.id,
                centre=centre,
                unaccompanied_minor=unaccompanied_minor,
                eu_citizen=eu_citizen,
                opened_on=opened_on,
            )
        )

    def apply(self, event: DomainEvent) -> None:
        match event:
            case LegalCaseRegistered():
                self.centre = event.centre
                self.unaccompanied_minor = event.unaccompanied_minor
                self.eu_citizen = event.eu_citizen
                self.opened_on = event.opened_on
            case _:
                super().apply(event)  # an event it does not know is a TypeError, never silently dropped
