"""``Idempotency-Key`` for referral submissions: a repeated submission returns the first referral.

The key is claimed in the submission's own transaction. A retry after a commit finds the key and answers with
the referral it names; a retry racing the first request waits on the key's unique index until the first commits
(then finds it) or rolls back (then claims it itself), so two requests with one key never make two referrals.
Keys are per referring organisation: two organisations choosing the same key never see each other's referral.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from harbour.errors import RuleViolation
from services.intake.models import ReferralRequest

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces (draft-ietf-httpapi-idempotency-key)


def checked_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        raise RuleViolation(f"the {HEADER} header must be 1 to 255 printable characters", field=HEADER)
    return value


def fingerprint(body: ReferralRequest) -> str:
    """A digest of the request's non-personal facts (see the migration for why personal ones are left out)."""
    facts = body.model_dump(mode="json", exclude={"circumstances", "person"})
    facts["has_circumstances"] = body.circumstances is not None
    facts["person_fields"] = sorted(body.person.clear_values()) if body.person else []
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


async def claim(conn: Any, org: str, key: str, print_: str, referral_id: str) -> str | None:
    """Claim ``key`` for ``referral_id``; returns the earlier referral's id when the key was used before.

    A reuse of the key for a different request is refused (422), as the IETF draft on the header advises.
    """
    claimed = await conn.fetchval(
        """INSERT INTO idempotency_keys (org, key, fingerprint, referral_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (org, key) DO NOTHING RETURNING referral_id""",
        org, key, print_, referral_id,
    )  # fmt: skip
    if claimed is not None:
        return None
    row = await conn.fetchrow("SELECT fingerprint, referral_id FROM idempotency_keys WHERE org = $1 AND key = $2",
                              org, key)  # fmt: skip
    if row["fingerprint"] != print_:
        raise RuleViolation(f"this {HEADER} was used for a different referral", field=HEADER)
    return row["referral_id"]
