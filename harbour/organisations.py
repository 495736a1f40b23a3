"""The organisations Harbour knows: their kinds, Belgium's judicial districts and the recognised centres.

A leaf of the runtime (standard library only), so that both access (``harbour.auth``, which tells a caller's
kind from the organisation id its token carries) and the milestone audiences (``schemas.audiences``) read one list
without the schemas importing access, or access importing the schemas.
"""

from __future__ import annotations

import re
from enum import StrEnum


class OrgKind(StrEnum):
    CENTRE = "centre"
    POLICE = "police"
    INSPECTORATE = "inspectorate"
    PROSECUTION = "prosecution"
    IMMIGRATION_OFFICE = "immigration-office"
    GUARDIANSHIP_SERVICE = "guardianship-service"
    FIRST_LINE = "first-line"
    MYRIA = "myria"
    OPS = "ops"


# Belgium's judicial districts as seats of a King's prosecutor's office and of a labour auditorate
# (prosecution-<district>, labour-auditorate-<district>); names are slugs of the English/seat name.
BELGIAN_DISTRICTS: tuple[str, ...] = (
    "antwerp",
    "limburg",
    "leuven",
    "halle-vilvoorde",
    "brussels",
    "walloon-brabant",
    "ghent",
    "bruges",
    "mons",
    "charleroi",
    "liege",
    "namur",
    "luxembourg",
    "eupen",
)

# The three recognised specialised centres: the only bodies that may request victim status (DOMAIN §1).
CENTRES: tuple[str, ...] = ("centre-payoke", "centre-pag-asa", "centre-surya")

# Organisations known by their exact id.
KNOWN_ORGS: dict[str, OrgKind] = {
    **{centre: OrgKind.CENTRE for centre in CENTRES},
    "police-federal": OrgKind.POLICE,
    "inspection-social": OrgKind.INSPECTORATE,
    "inspection-labour": OrgKind.INSPECTORATE,
    "immigration-office": OrgKind.IMMIGRATION_OFFICE,
    "guardianship-service": OrgKind.GUARDIANSHIP_SERVICE,
    "myria": OrgKind.MYRIA,
    "ops": OrgKind.OPS,
    **{f"prosecution-{d}": OrgKind.PROSECUTION for d in BELGIAN_DISTRICTS},
    **{f"labour-auditorate-{d}": OrgKind.PROSECUTION for d in BELGIAN_DISTRICTS},
    # The federal prosecutor takes cross-border network cases: an office a file is assigned to, an audience,
    # so one of its magistrates must be able to sign in (schemas/audiences.py lists it).
    "federal-prosecution": OrgKind.PROSECUTION,
}

_SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
# Families whose members are open-ended (every local police zone, every NGO...): prefix + a slug.
# "police-" must not swallow the centre list: centres are only the three recognised ones, exact ids above.
_ORG_FAMILIES: tuple[tuple[re.Pattern[str], OrgKind], ...] = (
    (re.compile(rf"police-{_SLUG}"), OrgKind.POLICE),
    (re.compile(rf"ngo-{_SLUG}"), OrgKind.FIRST_LINE),
    (re.compile(rf"hospital-{_SLUG}"), OrgKind.FIRST_LINE),
    (re.compile(rf"social-service-{_SLUG}"), OrgKind.FIRST_LINE),
)


def org_kind(org: str) -> OrgKind:
    """The kind of organisation ``org`` names; ValueError for an id we do not know."""
    kind = KNOWN_ORGS.get(org)
    if kind is not None:
        return kind
    for pattern, family_kind in _ORG_FAMILIES:
        if pattern.fullmatch(org):
            return family_kind
    raise ValueError(f"unknown organisation {org!r}")


def is_known_org(org: str) -> bool:
    try:
        org_kind(org)
    except ValueError:
        return False
    return True
