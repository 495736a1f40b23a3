"""The committed, sourced contacts table (``contacts.json``): who to contact, emergency first."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, HttpUrl

from schemas.catalogue import Labels
from schemas.intake import Region

CONTACTS_FILE = Path(__file__).parent / "contacts.json"


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: Literal["emergency", "centre", "police"]
    name: str
    number: str | None = None
    region: Region | None = None
    city: str | None = None
    website: HttpUrl | None = None
    when: Labels
    source: HttpUrl  # every entry says where it was read: an entry nobody can cite is not in the table


class Contacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    note: str
    contacts: tuple[Contact, ...]


@lru_cache(maxsize=1)
def contacts() -> tuple[Contact, ...]:
    """In the order a person should call: the emergency number, then the centres, then the police."""
    table = Contacts.model_validate(json.loads(CONTACTS_FILE.read_text("utf-8")))
    order = {"emergency": 0, "centre": 1, "police": 2}
    return tuple(sorted(table.contacts, key=lambda c: order[c.kind]))
