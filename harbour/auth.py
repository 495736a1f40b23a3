"""Access: signed JWTs naming the caller's organisation and role, verified against configured public keys.

Tokens are signed with an asymmetric key (Ed25519, JWS ``EdDSA``; RS256 public keys are accepted too), so a
service holds only public keys and cannot mint tokens. Each key admits only the algorithm of its own type,
which rules out algorithm confusion (an HS256 token "signed" with a public key, or ``alg: none``).
Issuer and audience are always checked: a token minted for another system is not a token for us.

For local use ``harbour token`` issues tokens from a development key pair generated once under
``var/keys/``; production configures ``HARBOUR_JWT_PUBLIC_KEYS`` with the real issuer's public keys.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fastapi import Depends, Request

from harbour.errors import Forbidden, Unauthorized

# The organisation list lives in harbour.organisations (a leaf the audience schemas read too); access re-exports
# its names, for the callers that import them from here.
from harbour.organisations import BELGIAN_DISTRICTS as BELGIAN_DISTRICTS
from harbour.organisations import KNOWN_ORGS as KNOWN_ORGS
from harbour.organisations import OrgKind as OrgKind
from harbour.organisations import is_known_org as is_known_org
from harbour.organisations import org_kind as org_kind
from harbour.settings import HarbourSettings, get_settings


class Role(StrEnum):
    CASEWORKER = "caseworker"
    MANAGER = "manager"
    HOUSING = "housing"
    OFFICER = "officer"
    MAGISTRATE = "magistrate"
    CLERK = "clerk"
    OPERATOR = "operator"
    ANALYST = "analyst"


@dataclass(frozen=True)
class Caller:
    """Who is calling: an organisation, a role in it, and a user id (pseudonymous; never a name)."""

    org: str
    role: Role
    user: str

    @property
    def kind(self) -> OrgKind:
        return org_kind(self.org)


# --------------------------------------------------------------------------------------------- keys

_DEV_PRIVATE = "jwt-dev-ed25519.pem"
_DEV_PUBLIC = "jwt-dev-ed25519.pub.pem"


def ensure_dev_keys(settings: HarbourSettings) -> tuple[Path, Path]:
    """The development key pair (private, public) under ``settings.keys_dir``, generated on first use.

    Several services start at once on a fresh machine; a file lock makes them agree on one pair instead of
    each overwriting the other's (which would leave tokens that only some services accept).
    """
    keys_dir = settings.keys_dir
    keys_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = keys_dir / _DEV_PRIVATE, keys_dir / _DEV_PUBLIC
    if private_path.exists() and public_path.exists():
        return private_path, public_path
    with (keys_dir / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (private_path.exists() and public_path.exists()):
                key = ed25519.Ed25519PrivateKey.generate()
                private_pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                public_pem = key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                # Created 0600 from the start (not chmod-ed afterwards): the private key is never readable
                # by others, not even for an instant.
                tmp = private_path.with_suffix(".tmp")
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(private_pem)
                os.replace(tmp, private_path)
                public_path.write_bytes(public_pem)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return private_path, public_path


PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey


def _key_id(public_key: PublicKey) -> str:
    """A stable id of a public key (SHA-256 of its DER form), put in the token header as ``kid``."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def _algorithm(key: PublicKey) -> str:
    return "EdDSA" if isinstance(key, ed25519.Ed25519PublicKey) else "RS256"


def _load_public_key(path: Path) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read a PEM public key from {path}: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise ValueError(f"{path}: only Ed25519 and RSA public keys are accepted, not {type(key).__name__}")
    return key


# --------------------------------------------------------------------------------------------- tokens


def issue_token(
    org: str,
    role: str,
    user: str,
    *,
    settings: HarbourSettings | None = None,
    ttl: timedelta = timedelta(hours=8),
) -> str:
    """A development token signed with the key pair under ``var/keys`` (ValueError for unknown org or role)."""
    settings = settings or get_settings()
    org_kind(org)  # raises ValueError for an organisation we do not know
    try:
        role = Role(role)
    except ValueError:
        raise ValueError(f"unknown role {role!r}; one of: {', '.join(r.value for r in Role)}") from None
    if not user:
        raise ValueError("the user id must not be empty")
    if ttl <= timedelta(0):
        raise ValueError("the token lifetime must be positive")
    private_path, _ = ensure_dev_keys(settings)
    private_key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(private_key, ed25519.Ed25519PrivateKey):
        raise ValueError(f"{private_path} is not an Ed25519 private key")
    now = datetime.now(UTC)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user,
        "org": org,
        "role": role.value,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, private_key, algorithm="EdDSA", headers={"kid": _key_id(private_key.public_key())})


class TokenVerifier:
    """Verifies tokens against ``settings.jwt_public_keys``, or the development public key when none is set."""

    # Clocks of issuer and service differ a little; a minute of leeway avoids spurious 401s on fresh tokens.
    leeway = timedelta(seconds=60)
    # A client sends the same token with every request for hours, and checking its signature again (170 us) was
    # about a tenth of the CPU of the OpenAPI fuzz's requests (py-spy). What a token says cannot change once its
    # signature held against one of this verifier's keys (they are read once, at start), so a token verified
    # before is trusted again without its signature while its time window holds. Only tokens that passed are
    # kept (a flood of forged ones fills nothing), and the oldest go first past this many.
    cached_tokens = 4096

    def __init__(self, settings: HarbourSettings | None = None) -> None:
        self.settings = settings or get_settings()
        paths: Iterable[Path] = self.settings.jwt_public_keys or [ensure_dev_keys(self.settings)[1]]
        self._keys: dict[str, PublicKey] = {}
        for path in paths:
            key = _load_public_key(Path(path))
            self._keys[_key_id(key)] = key
        # token -> (its caller, the first and the last second it is accepted in, leeway included)
        self._verified: OrderedDict[str, tuple[Caller, float, float]] = OrderedDict()

    def verify(self, token: str | None) -> Caller:
        if not token:
            raise Unauthorized("a bearer token is required")
        known = self._verified.get(token)
        if known is not None:
            caller, first, last = known
            if first <= time.time() < last:
                self._verified.move_to_end(token)
                return caller
            # Out of its window: verified again in full, which refuses it with the reason it always gave.
            del self._verified[token]
        caller, window = self._verify_in_full(token)
        self._verified[token] = (caller, *window)
        if len(self._verified) > self.cached_tokens:
            self._verified.popitem(last=False)
        return caller

    def _verify_in_full(self, token: str) -> tuple[Caller, tuple[float, float]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the token is malformed") from None
        kid = header.get("kid")
        # With a known kid only that key is tried; without one (another issuer's tokens) every key is.
        candidates = [self._keys[kid]] if isinstance(kid, str) and kid in self._keys else list(self._keys.values())
        claims: dict[str, Any] | None = None
        failure = "the token's signature matches none of our keys"
        for key in candidates:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[_algorithm(key)],
                    audience=self.settings.jwt_audience,
                    issuer=self.settings.jwt_issuer,
                    leeway=self.leeway,
                    options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise Unauthorized("the token has expired") from None
            except jwt.InvalidAudienceError:
                raise Unauthorized("the token is not meant for this audience") from None
            except jwt.InvalidIssuerError:
                raise Unauthorized("the token comes from an issuer we do not trust") from None
            except jwt.PyJWTError as exc:
                failure = f"the token is invalid: {exc}"
                # An algorithm mismatch means "another key type": try the next key.
                if isinstance(exc, jwt.InvalidAlgorithmError):
                    continue
                raise Unauthorized(failure) from None
        if claims is None:
            raise Unauthorized(failure)
        org, role, user = claims.get("org"), claims.get("role"), claims.get("sub")
        if not isinstance(org, str) or not is_known_org(org):
            raise Unauthorized("the token names no organisation we know")
        try:
            known_role = Role(str(role))
        except ValueError:
            raise Unauthorized("the token names no role we know") from None
        # PyJWT accepts a token from its nbf and its iat, and up to (not at) its exp, each widened by the leeway.
        leeway = self.leeway.total_seconds()
        first = max(int(claims.get("nbf", 0)), int(claims["iat"])) - leeway
        return Caller(org=org, role=known_role, user=str(user)), (first, int(claims["exp"]) + leeway)


# --------------------------------------------------------------------------------------------- FastAPI


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def authenticated(request: Request) -> Caller:
    """FastAPI dependency: the verified caller of this request (401 when the token is missing or bad).

    The verifier is ``app.state.verifier`` (a service sets it at start-up); without one, one built from the
    settings is cached there, so keys are read once per process rather than once per request.
    """
    verifier = getattr(request.app.state, "verifier", None)
    if verifier is None:
        verifier = TokenVerifier(get_settings())
        request.app.state.verifier = verifier
    caller = verifier.verify(_bearer(request))
    # Kept on the request so audit records and telemetry can name the actor without re-verifying.
    request.state.caller = caller
    return caller


def require(
    *,
    kinds: Iterable[str] | None = None,
    orgs: Iterable[str] | None = None,
    roles: Iterable[str] | None = None,
) -> Callable[[Caller], Awaitable[Caller]]:
    """A FastAPI dependency admitting only callers of these kinds, organisations and roles (403 otherwise).

    Each given criterion must hold; ``None`` means "any". Usage: ``Depends(require(kinds={"centre"}))``.
    """
    allowed_kinds = {OrgKind(k) for k in kinds} if kinds is not None else None
    allowed_orgs = set(orgs) if orgs is not None else None
    allowed_roles = {Role(r) for r in roles} if roles is not None else None

    async def check(caller: Caller = Depends(authenticated)) -> Caller:
        if allowed_kinds is not None and caller.kind not in allowed_kinds:
            raise Forbidden(f"organisations of kind {caller.kind} may not do this")
        if allowed_orgs is not None and caller.org not in allowed_orgs:
            raise Forbidden(f"organisation {caller.org} may not do this")
        if allowed_roles is not None and caller.role not in allowed_roles:
            raise Forbidden(f"role {caller.role} may not do this")
        return caller

    return check
