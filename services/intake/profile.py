"""The person's coarse profile for the statistics (``CaseProfiled``), made from their clear identity in intake.

Statistics counts victims by sex, age group and citizenship (Eurostat's trafficking tables), but date of birth and
nationality are personal data, sealed under the person's key in ``IdentityCaptured``, and statistics never opens
them. So intake coarsens them here, at the moment it holds them in clear (the identity command, before sealing),
into bands no person can be found by: an age band at identification, EU or non-EU, and the UN M49 region of the
nationality. The clear values are handed to the aggregate beside their sealed copies and are never recorded.

Pure: no I/O and no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from schemas.intake import AgeBand, CitizenshipGroup, Sex, WorldRegion

# The EU member states (ISO 3166-1 alpha-2; Greece is GR here, EL only in the EU's own style guide). A citizen of
# any of them may be a victim of trafficking but never of smuggling, and may receive no residence document.
EU_MEMBER_STATES = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())

# Every ISO 3166-1 alpha-2 code by its UN M49 region (unstats.un.org/unsd/methodology/m49), sub-region by
# sub-region so a reviewer can check it against the M49 list. Antarctica (AQ) belongs to no M49 region; Taiwan
# (TW), which M49 does not list, is counted in Asia; Kosovo (XK, a code the EU and ISO's users assign, not ISO
# itself) in Europe, as M49 counts it with Serbia.
_M49: dict[WorldRegion, str] = {
    WorldRegion.AFRICA: " ".join((
        "DZ EG LY MA SD TN EH",  # Northern Africa
        "IO BI KM DJ ER ET TF KE MG MW MU YT MZ RE RW SC SO SS UG TZ ZM ZW",  # Eastern Africa
        "AO CM CF TD CG CD GQ GA ST",  # Middle Africa
        "BW SZ LS NA ZA",  # Southern Africa
        "BJ BF CV CI GM GH GN GW LR ML MR NE NG SH SN SL TG",  # Western Africa
    )),
    WorldRegion.AMERICAS: " ".join((
        "AI AG AW BS BB BQ VG KY CU CW DM DO GD GP HT JM MQ MS PR BL KN LC MF VC SX TT TC VI",  # Caribbean
        "BZ CR SV GT HN MX NI PA",  # Central America
        "AR BO BV BR CL CO EC FK GF GY PY PE GS SR UY VE",  # South America
        "BM CA GL PM US",  # Northern America
    )),
    WorldRegion.ASIA: " ".join((
        "KZ KG TJ TM UZ",  # Central Asia
        "CN HK MO KP JP MN KR TW",  # Eastern Asia
        "BN KH ID LA MY MM PH SG TH TL VN",  # South-eastern Asia
        "AF BD BT IN IR MV NP PK LK",  # Southern Asia
        "AM AZ BH CY GE IQ IL JO KW LB OM QA SA PS SY TR AE YE",  # Western Asia
    )),
    WorldRegion.EUROPE: " ".join((
        "BY BG CZ HU PL MD RO RU SK UA",  # Eastern Europe
        "AX DK EE FO FI GG IS IE IM JE LV LT NO SJ SE GB",  # Northern Europe
        "AL AD BA HR GI GR VA IT MT ME MK PT SM RS SI ES XK",  # Southern Europe
        "AT BE FR DE LI LU MC NL CH",  # Western Europe
    )),
    WorldRegion.OCEANIA: " ".join((
        "AU CX CC HM NZ NF",  # Australia and New Zealand
        "FJ NC PG SB VU",  # Melanesia
        "GU KI MH FM NR MP PW UM",  # Micronesia
        "AS CK PF NU PN WS TK TO TV WF",  # Polynesia
    )),
}  # fmt: skip
REGION_OF: dict[str, WorldRegion] = {code: region for region, codes in _M49.items() for code in codes.split()}
# The codes a nationality may be: every country above, and Antarctica, which ISO assigns and M49 places nowhere.
COUNTRIES = frozenset({*REGION_OF, "AQ"})

# Upper bounds (inclusive, in whole years) of each band; the minors' split is Eurostat's (under 12, 12 to 17).
_BANDS: tuple[tuple[int, AgeBand], ...] = (
    (11, AgeBand.UNDER_12), (17, AgeBand.FROM_12_TO_17), (24, AgeBand.FROM_18_TO_24), (34, AgeBand.FROM_25_TO_34),
    (44, AgeBand.FROM_35_TO_44), (54, AgeBand.FROM_45_TO_54), (64, AgeBand.FROM_55_TO_64),
)  # fmt: skip
# Older than any living person: a date of birth this far back is a typing error, not an age to count.
_OLDEST = 120


@dataclass(frozen=True)
class ProfileInput:
    """The clear values a profile is made of, given to the aggregate beside their sealed copies; never recorded.

    The names are the identity fields' (``schemas.intake.IDENTITY_FIELDS``), so the aggregate can check that a
    sealed value and its clear value always come together."""

    sex: Sex | None = None
    date_of_birth: date | None = None
    nationality: str | None = None


PROFILE_FIELDS: tuple[str, ...] = ("sex", "date_of_birth", "nationality")


def age_in_years(born_on: date, on: date) -> int:
    """Whole years completed on ``on`` (a person born on 29 February turns a year older on 1 March)."""
    return on.year - born_on.year - ((on.month, on.day) < (born_on.month, born_on.day))


def age_band(born_on: date | None, identified_on: date) -> AgeBand:
    """The band of the person's age on the day of identification; unknown without a date of birth, or with one
    after that day or more than a lifetime before it (the date is then wrong, and no band would be true)."""
    if born_on is None:
        return AgeBand.UNKNOWN
    years = age_in_years(born_on, identified_on)
    if years < 0 or years > _OLDEST:
        return AgeBand.UNKNOWN
    return next((band for top, band in _BANDS if years <= top), AgeBand.FROM_65)


def citizenship(nationality: str | None) -> CitizenshipGroup:
    if nationality is None or nationality not in COUNTRIES:
        return CitizenshipGroup.UNKNOWN
    return CitizenshipGroup.EU if nationality in EU_MEMBER_STATES else CitizenshipGroup.NON_EU


def world_region(nationality: str | None) -> WorldRegion:
    return REGION_OF.get(nationality or "", WorldRegion.UNKNOWN)
