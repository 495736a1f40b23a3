"""What intake adds to the platform's ``Idempotency-Key`` (``harbour.idempotency``): the referral's fingerprint.

A referral's body is mostly personal (the person's details, the circumstances): its fingerprint covers only
the request's non-personal facts and which personal fields it carried. It is the fingerprint referral keys had
before every command took a key, so keys recorded then still tell a retry from another referral.
"""

from __future__ import annotations

import hashlib
import json

from harbour.idempotency import HEADER
from services.intake.api.models import ReferralRequest

__all__ = ["HEADER", "fingerprint"]


def fingerprint(body: ReferralRequest) -> str:
    """A digest of the request's non-personal facts (see harbour/idempotency.py for why personal ones are left out)."""
    facts = body.model_dump(mode="json", exclude={"circumstances", "person"})
    facts["has_circumstances"] = body.circumstances is not None
    facts["person_fields"] = sorted(body.person.clear_values()) if body.person else []
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
