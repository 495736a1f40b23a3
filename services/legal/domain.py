"""The legal service's domain, split in :mod:`.residence`, :mod:`.proceedings` and the pure :mod:`.rules`."""

from services.legal.proceedings import CLOSING_WITHOUT_TRIAL, CriminalProceedings, ending_for
from services.legal.residence import ResidenceProcedure, opens_on_case_opened
from services.legal.rules import (
    DEFAULT_RULES,
    NO_FACTS,
    Deadline,
    DeadlineKind,
    DocumentValidity,
    MagistrateOpinion,
    ProceedingsFacts,
    ResidenceRules,
    add_months,
    deadlines,
    months_end,
    stay_valid_on,
    validity_end,
)

__all__ = [
    "CLOSING_WITHOUT_TRIAL",
    "DEFAULT_RULES",
    "NO_FACTS",
    "CriminalProceedings",
    "Deadline",
    "DeadlineKind",
    "DocumentValidity",
    "MagistrateOpinion",
    "ProceedingsFacts",
    "ResidenceProcedure",
    "ResidenceRules",
    "add_months",
    "deadlines",
    "ending_for",
    "months_end",
    "opens_on_case_opened",
    "stay_valid_on",
    "validity_end",
]
