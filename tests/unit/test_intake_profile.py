"""The coarse profile intake makes for the statistics (services/intake/profile.py): age bands at identification,
EU or non-EU, and the UN M49 region of a nationality."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.intake import AgeBand, CitizenshipGroup, WorldRegion
from services.intake.profile import COUNTRIES, EU_MEMBER_STATES, REGION_OF, age_band, citizenship, world_region

IDENTIFIED = date(2026, 3, 10)


@pytest.mark.parametrize(
    ("born_on", "band"),
    [
        (date(2026, 3, 10), AgeBand.UNDER_12),  # born on the day
        (date(2014, 3, 11), AgeBand.UNDER_12),  # 12 tomorrow
        (date(2014, 3, 10), AgeBand.FROM_12_TO_17),  # 12 today
        (date(2008, 3, 11), AgeBand.FROM_12_TO_17),  # 18 tomorrow: still a minor
        (date(2008, 3, 10), AgeBand.FROM_18_TO_24),
        (date(2001, 3, 11), AgeBand.FROM_18_TO_24),
        (date(2001, 3, 10), AgeBand.FROM_25_TO_34),
        (date(1991, 3, 10), AgeBand.FROM_35_TO_44),
        (date(1981, 3, 10), AgeBand.FROM_45_TO_54),
        (date(1971, 3, 10), AgeBand.FROM_55_TO_64),
        (date(1961, 3, 11), AgeBand.FROM_55_TO_64),
        (date(1961, 3, 10), AgeBand.FROM_65),
        (date(1906, 3, 10), AgeBand.FROM_65),  # 120
        (date(1905, 3, 10), AgeBand.UNKNOWN),  # 121, older than anyone: a wrong date, no band
        (date(2026, 3, 11), AgeBand.UNKNOWN),  # born after the identification: a wrong date
        (None, AgeBand.UNKNOWN),
    ],
)
def test_the_age_band_is_the_age_in_whole_years_on_the_day_of_identification(born_on, band) -> None:
    assert age_band(born_on, IDENTIFIED) is band


def test_someone_born_on_29_february_is_a_year_older_on_1_march() -> None:
    assert age_band(date(2008, 2, 29), date(2026, 2, 28)) is AgeBand.FROM_12_TO_17
    assert age_band(date(2008, 2, 29), date(2026, 3, 1)) is AgeBand.FROM_18_TO_24


def test_the_eu_is_its_27_member_states_and_an_unknown_or_unassigned_nationality_is_unknown() -> None:
    assert len(EU_MEMBER_STATES) == 27 and EU_MEMBER_STATES <= COUNTRIES
    assert citizenship("BE") is CitizenshipGroup.EU and citizenship("GR") is CitizenshipGroup.EU
    assert citizenship("GB") is CitizenshipGroup.NON_EU and citizenship("NG") is CitizenshipGroup.NON_EU
    assert citizenship("EL") is CitizenshipGroup.UNKNOWN and citizenship(None) is CitizenshipGroup.UNKNOWN


def test_every_iso_country_has_one_m49_region_except_antarctica() -> None:
    # ISO 3166-1 assigns 249 alpha-2 codes; Kosovo's XK is the one code in the table ISO did not assign.
    assert len(COUNTRIES - {"XK"}) == 249 and "AQ" not in REGION_OF
    assert {code: world_region(code) for code in ("NG", "BR", "US", "VN", "TR", "CY", "RU", "MD", "AU", "EG")} == {
        "NG": WorldRegion.AFRICA, "BR": WorldRegion.AMERICAS, "US": WorldRegion.AMERICAS, "VN": WorldRegion.ASIA,
        "TR": WorldRegion.ASIA, "CY": WorldRegion.ASIA, "RU": WorldRegion.EUROPE, "MD": WorldRegion.EUROPE,
        "AU": WorldRegion.OCEANIA, "EG": WorldRegion.AFRICA,
    }  # fmt: skip
    assert world_region("AQ") is WorldRegion.UNKNOWN and world_region(None) is WorldRegion.UNKNOWN
