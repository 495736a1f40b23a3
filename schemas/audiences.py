"""The audiences of case milestones: every agency that follows cases, each on a topic of its own.

One topic per audience (``milestones.<audience>.v1``) so that Kafka ACLs say who reads what: granting a
prosecutor's office its topic grants nothing else (the topics themselves, as rows of the platform's topic table,
are the milestone machinery's: ``milestones.topics``). An audience id is the organisation id its tokens carry
(``harbour.auth``), so the feeds service can check that a caller reads only its own audience.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from harbour.organisations import BELGIAN_DISTRICTS, OrgKind, org_kind
from harbour.organisations import CENTRES as CENTRES

# CENTRES: the three recognised specialised centres, the only bodies that may request victim status (DOMAIN §1);
# one list, the one access (harbour.auth) knows them by.
# Inspectorates refer too (labour exploitation is mostly found on site visits by the social inspection
# and the labour inspectorate), so they follow their referrals like a police unit does.
INSPECTORATES: tuple[str, ...] = ("inspection-social", "inspection-labour")
# A reference magistrate sits in every judicial district, in the King's prosecutor's office and, for labour
# exploitation, in the labour auditorate. The federal prosecutor takes cross-border network cases: legal's
# ``OfficeId`` admits it, so it is an audience too (a file assigned there must reach someone).
FEDERAL_PROSECUTION = "federal-prosecution"
PROSECUTION_OFFICES: tuple[str, ...] = (
    *(f"prosecution-{d}" for d in BELGIAN_DISTRICTS),
    *(f"labour-auditorate-{d}" for d in BELGIAN_DISTRICTS),
    FEDERAL_PROSECUTION,
)
POLICE_FEDERAL = "police-federal"
IMMIGRATION_OFFICE = "immigration-office"
GUARDIANSHIP_SERVICE = "guardianship-service"

# A local police zone's id (the zones are configured, so a contract names them by this pattern, not one by one).
POLICE_ZONE_PATTERN = r"police-[a-z0-9]+(?:-[a-z0-9]+)*"
_ZONE = re.compile(POLICE_ZONE_PATTERN)


# An audience is an organisation, and its kind is that organisation's kind (one enum, the one access reads
# tokens with): centre, police, inspectorate, prosecution, immigration-office or guardianship-service. The other
# kinds (first-line, myria, ops) follow no case and have no audience.
AudienceKind = OrgKind


def police_zones(zones: Iterable[str]) -> tuple[str, ...]:
    """The local police zones with a topic of their own: ``zones``, the configured ones (HARBOUR_POLICE_ZONES).

    The caller passes them (a runtime its settings' ``police_zones``): the schemas read no configuration."""
    chosen = tuple(zones)
    for zone in chosen:
        if not _ZONE.fullmatch(zone) or zone == POLICE_FEDERAL:
            raise ValueError(f"not a local police zone id: {zone!r} (expected police-<slug>)")
    return tuple(dict.fromkeys(chosen))


def all_audiences(zones: Iterable[str]) -> list[str]:
    """Every audience, in a stable order: centres, police, inspectorates, prosecution, the two federal services."""
    return [*CENTRES, POLICE_FEDERAL, *police_zones(zones), *INSPECTORATES, *PROSECUTION_OFFICES,
            IMMIGRATION_OFFICE, GUARDIANSHIP_SERVICE]  # fmt: skip


def audience_kind(audience: str, zones: Iterable[str]) -> OrgKind:
    if not is_audience(audience, zones):
        raise LookupError(f"no audience {audience!r}")
    return org_kind(audience)


def is_audience(org: str | None, zones: Iterable[str]) -> bool:
    return org is not None and org in all_audiences(zones)


def milestone_topic(audience: str) -> str:
    return f"milestones.{audience}.v1"
