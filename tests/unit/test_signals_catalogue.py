"""One catalogue for the public page and the professional screening (schemas/catalogue/signals-v1.json)."""

from __future__ import annotations

import json
import shutil

import pytest

import schemas.catalogue
from schemas.catalogue import LANGUAGES, load_catalogue
from services.intake.screening import screen
from services.signals import pages
from services.signals.contacts import contacts
from services.signals.domain import CENTRE_OF_REGION, region_of_postcode
from services.signals.text import T, choose


@pytest.fixture
def changed_catalogue(tmp_path, monkeypatch):
    """A temporary copy of the catalogue with one signal relabelled and one added, read by both services."""
    shutil.copy(schemas.catalogue.CATALOGUE_DIR / "signals-v1.json", tmp_path / "signals-v1.json")
    document = json.loads((tmp_path / "signals-v1.json").read_text("utf-8"))
    work = next(c for c in document["categories"] if c["id"] == "work-and-living-conditions")
    work["signals"][0]["labels"]["fr"] = "Conditions de travail indignes (libellé changé)"
    work["signals"].append({"id": "work-and-living-conditions.no-days-off", "label": "No day off, ever",
                            "labels": {"nl": "Nooit een vrije dag", "fr": "Jamais un jour de congé",
                                       "de": "Nie ein freier Tag", "en": "No day off, ever"},
                            "sources": ["ilo-2012"]})  # fmt: skip
    (tmp_path / "signals-v1.json").write_text(json.dumps(document), "utf-8")
    monkeypatch.setattr(schemas.catalogue, "CATALOGUE_DIR", tmp_path)
    return document


def test_a_signal_changed_in_the_catalogue_changes_both_the_public_page_and_intakes_screening(changed_catalogue):
    page = pages.check_page(load_catalogue(), "fr").body.decode()
    assert "Conditions de travail indignes (libellé changé)" in page
    assert 'value="work-and-living-conditions.no-days-off"' in page
    summary = screen(load_catalogue(), ["work-and-living-conditions.no-days-off", "minor.unaccompanied"])
    assert summary.signal_count == 2 and summary.counts["work-and-living-conditions"] == 1


def test_without_the_change_intake_refuses_the_new_signal_and_the_page_does_not_show_it():
    from harbour.errors import RuleViolation

    assert "no-days-off" not in pages.check_page(load_catalogue(), "fr").body.decode()
    with pytest.raises(RuleViolation):
        screen(load_catalogue(), ["work-and-living-conditions.no-days-off"])


def test_every_signal_and_every_page_word_is_in_the_four_languages():
    for category in load_catalogue().categories:
        for item in (category, *category.signals):
            assert all(item.labels.in_(language).strip() for language in LANGUAGES), item.id
    assert all(set(words) == set(LANGUAGES) for words in T.values())


def test_the_language_is_the_asked_one_else_the_best_accepted_one_else_english():
    assert choose("de", "fr-BE,fr;q=0.9") == "de"
    assert choose(None, "fr-BE,fr;q=0.9,nl;q=0.8") == "fr"
    assert choose(None, "es, nl;q=0.5, de;q=0.7") == "de"
    assert choose("xx", "") == "en"


def test_every_contact_cites_its_public_source_and_the_emergency_number_comes_first():
    listed = contacts()
    assert listed[0].number == "112" and listed[-1].kind == "police"
    assert {c.name for c in listed if c.kind == "centre"} == {"Payoke", "PAG-ASA", "Sürya"}
    assert all(str(c.source).startswith("https://") for c in listed)


def test_the_postcode_decides_the_region_and_so_the_centre():
    assert CENTRE_OF_REGION[region_of_postcode("1000")].value == "centre-pag-asa"
    assert CENTRE_OF_REGION[region_of_postcode("2000")].value == "centre-payoke"
    assert CENTRE_OF_REGION[region_of_postcode("4700")].value == "centre-surya"  # Eupen: the German-speaking area
    assert CENTRE_OF_REGION[region_of_postcode("1300")].value == "centre-surya"  # Walloon Brabant
    assert CENTRE_OF_REGION[region_of_postcode("3500")].value == "centre-payoke"  # Limburg
