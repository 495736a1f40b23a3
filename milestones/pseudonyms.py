"""Per-audience pseudonymous case references: stable for one audience, unlinkable across audiences.

``case_ref = base32(HMAC-SHA256(k_audience, root id))[:26]`` where ``k_audience = HKDF-SHA256(platform key,
info = audience)``. Keyed, so nobody without the key can test a guessed case id against a reference; one key
per audience, so two offices comparing their feeds cannot tell which of their cases are the same person's
(each learns only its own file number beside its reference). 26 base32 characters are 130 bits of the MAC:
no collision among any number of cases a country will ever have.

The root id is the referral the case came from, not the case id: a referral is keyed by its own id until
admission and by the case id after, and the referrer must see one reference from "referral received" to the
verdict. Every service learns the referral id with the case (intake's ``CaseOpened`` carries it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from harbour.devsecrets import dev_secret
from harbour.settings import HarbourSettings

_KEY_BYTES = 32
_REF_CHARS = 26
_HKDF_SALT = b"harbour.milestones.case-ref.v1"  # a new version changes every reference: a new contract


def decode_key(text: str) -> bytes:
    raw = base64.b64decode(text.strip().encode("ascii"), validate=True)
    if len(raw) != _KEY_BYTES:
        raise ValueError(f"the pseudonym key must be {_KEY_BYTES} bytes of base64, not {len(raw)}")
    return raw


def ensure_dev_pseudonym_key(settings: HarbourSettings) -> str:
    """HARBOUR_PSEUDONYM_KEY, or for development one kept in ``<var_dir>/keys/pseudonym.key`` (made when absent).

    Every service must derive the same references, so they share this one platform secret (production sets it
    from a secret store); it is never the master key, so rotating one does not disturb the other.
    """
    if settings.pseudonym_key:
        return settings.pseudonym_key
    return dev_secret(settings.keys_dir / "pseudonym.key", size=_KEY_BYTES)


class Pseudonyms:
    """Derives each audience's key once and computes its case references."""

    def __init__(self, platform_key: bytes) -> None:
        self._platform_key = platform_key
        self._keys: dict[str, bytes] = {}

    @classmethod
    def from_settings(cls, settings: HarbourSettings) -> Pseudonyms:
        return cls(decode_key(ensure_dev_pseudonym_key(settings)))

    def __repr__(self) -> str:  # never show key material
        return f"Pseudonyms(audiences={len(self._keys)})"

    def audience_key(self, audience: str) -> bytes:
        key = self._keys.get(audience)
        if key is None:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=_HKDF_SALT, info=audience.encode())
            key = self._keys[audience] = hkdf.derive(self._platform_key)
        return key

    def case_ref(self, audience: str, root_id: str) -> str:
        mac = hmac.new(self.audience_key(audience), root_id.encode(), hashlib.sha256).digest()
        return base64.b32encode(mac).decode("ascii").lower()[:_REF_CHARS]
