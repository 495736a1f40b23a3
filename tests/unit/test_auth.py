"""Access tokens: asymmetric signatures, issuer and audience checked, organisations and roles classified."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI
from starlette.requests import Request

from harbour.auth import (
    Caller,
    OrgKind,
    Role,
    TokenVerifier,
    authenticated,
    ensure_dev_keys,
    issue_token,
    org_kind,
    require,
)
from harbour.errors import Forbidden, Unauthorized
from harbour.settings import HarbourSettings, get_settings
from schemas.audiences import all_audiences, audience_kind


@pytest.fixture
def settings(tmp_path: Path) -> HarbourSettings:
    return HarbourSettings(var_dir=tmp_path, jwt_public_keys=[])


def _request(app: FastAPI, authorization: str | None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "app": app})


def test_a_token_round_trips_to_the_caller_it_was_issued_for(settings: HarbourSettings) -> None:
    token = issue_token("centre-payoke", "caseworker", "u-17", settings=settings)
    caller = TokenVerifier(settings).verify(token)
    assert caller == Caller(org="centre-payoke", role=Role.CASEWORKER, user="u-17")
    assert caller.kind == OrgKind.CENTRE


def test_tokens_are_signed_with_an_asymmetric_algorithm(settings: HarbourSettings) -> None:
    token = issue_token("police-federal", "officer", "u-1", settings=settings)
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"


def test_the_dev_private_key_is_readable_by_its_owner_only_and_generated_once(settings: HarbourSettings) -> None:
    private, public = ensure_dev_keys(settings)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    first = public.read_bytes()
    assert ensure_dev_keys(settings) == (private, public)
    assert public.read_bytes() == first


def test_a_token_for_another_audience_is_unauthorized(settings: HarbourSettings, tmp_path: Path) -> None:
    token = issue_token("centre-payoke", "caseworker", "u", settings=settings)
    other = settings.model_copy(update={"jwt_audience": "someone-else"})
    with pytest.raises(Unauthorized, match="audience"):
        TokenVerifier(other).verify(token)


def test_a_token_from_another_issuer_is_unauthorized(settings: HarbourSettings) -> None:
    foreign = settings.model_copy(update={"jwt_issuer": "https://elsewhere.example"})
    token = issue_token("centre-payoke", "caseworker", "u", settings=foreign)
    with pytest.raises(Unauthorized, match="issuer"):
        TokenVerifier(settings).verify(token)


def _signed(settings: HarbourSettings, **claims: object) -> str:
    private, _ = ensure_dev_keys(settings)
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    base = {"iss": settings.jwt_issuer, "aud": settings.jwt_audience, "sub": "u", "org": "ops", "role": "operator"}
    return jwt.encode({**base, **claims}, key, algorithm="EdDSA")  # type: ignore[arg-type]


def test_an_expired_token_is_unauthorized(settings: HarbourSettings) -> None:
    # Issued long ago with a minute to live: well past the verifier's leeway.
    token = _signed(settings, iat=1_000_000_000, exp=1_000_000_060)
    with pytest.raises(Unauthorized, match="expired"):
        TokenVerifier(settings).verify(token)


def test_a_token_trusted_again_without_its_signature_is_still_refused_once_it_has_expired(
    settings: HarbourSettings,
) -> None:
    verifier = TokenVerifier(settings)
    verifier.leeway = timedelta(0)  # so that a real expiry comes within the test, with no clock to fake
    now = int(time.time())
    token = _signed(settings, iat=now, exp=now + 2)
    first = verifier.verify(token)
    assert verifier.verify(token) == first  # the second time from what the first verified
    while time.time() < now + 2:
        time.sleep(0.05)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)  # and stays refused


def test_a_token_altered_after_it_was_verified_is_refused(settings: HarbourSettings) -> None:
    verifier = TokenVerifier(settings)
    token = issue_token("centre-payoke", "caseworker", "u", settings=settings)
    verifier.verify(token)
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raised = base64.urlsafe_b64encode(json.dumps({**claims, "role": "manager"}).encode()).rstrip(b"=").decode()
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for forged in (f"{head}.{raised}.{signature}", f"{head}.{body}.{flipped}", token + " "):
        with pytest.raises(Unauthorized):
            verifier.verify(forged)
    assert verifier.verify(token).role is Role.CASEWORKER


def test_the_verifier_keeps_at_most_its_bound_of_tokens_and_still_verifies_the_ones_it_let_go(
    settings: HarbourSettings,
) -> None:
    verifier = TokenVerifier(settings)
    verifier.cached_tokens = 3
    tokens = [issue_token("centre-payoke", "caseworker", f"u-{i}", settings=settings) for i in range(5)]
    callers = [verifier.verify(t) for t in tokens]
    assert len(verifier._verified) == 3
    assert [verifier.verify(t) for t in tokens] == callers
    assert len(verifier._verified) == 3


def test_a_token_not_yet_valid_is_never_kept(settings: HarbourSettings) -> None:
    verifier = TokenVerifier(settings)
    later = int(time.time()) + 3600
    with pytest.raises(Unauthorized, match="not yet valid"):
        verifier.verify(_signed(settings, iat=later, exp=later + 60))
    assert len(verifier._verified) == 0


@pytest.mark.parametrize("garbage", ["", "not-a-token", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_garbage_is_unauthorized(settings: HarbourSettings, garbage: str) -> None:
    with pytest.raises(Unauthorized):
        TokenVerifier(settings).verify(garbage)


def test_a_token_signed_with_another_key_is_unauthorized(settings: HarbourSettings) -> None:
    stranger = ed25519.Ed25519PrivateKey.generate()
    token = jwt.encode(
        {"iss": settings.jwt_issuer, "aud": settings.jwt_audience, "sub": "u", "org": "ops", "role": "operator",
         "iat": 2_000_000_000, "exp": 4_000_000_000},
        stranger,
        algorithm="EdDSA",
    )  # fmt: skip
    with pytest.raises(Unauthorized):
        TokenVerifier(settings).verify(token)


def test_a_token_signed_with_the_public_key_as_an_hmac_secret_is_unauthorized(settings: HarbourSettings) -> None:
    _, public = ensure_dev_keys(settings)

    # The classic algorithm-confusion attack: HS256 with the (public) verification key as the secret.
    # PyJWT refuses to make such a token, so it is assembled by hand.
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    claims = {"iss": settings.jwt_issuer, "aud": settings.jwt_audience, "sub": "u", "org": "ops",
              "role": "operator", "iat": 2_000_000_000, "exp": 4_000_000_000}  # fmt: skip
    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(json.dumps(claims).encode())
    signature = hmac.new(public.read_bytes(), signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + b64(signature)).decode()
    with pytest.raises(Unauthorized):
        TokenVerifier(settings).verify(token)


def test_configured_public_keys_replace_the_dev_key(settings: HarbourSettings, tmp_path: Path) -> None:
    token = issue_token("centre-payoke", "caseworker", "u", settings=settings)
    other_key = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = tmp_path / "other.pub.pem"
    pem.write_bytes(other_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(Unauthorized):
        TokenVerifier(settings.model_copy(update={"jwt_public_keys": [pem]})).verify(token)


@pytest.mark.parametrize("org", ["centre-unknown", "police", "prosecution-atlantis", "bank-x", "NGO-X", ""])
def test_issue_token_rejects_unknown_organisations(settings: HarbourSettings, org: str) -> None:
    with pytest.raises(ValueError, match="organisation"):
        issue_token(org, "caseworker", "u", settings=settings)


def test_issue_token_rejects_unknown_roles(settings: HarbourSettings) -> None:
    with pytest.raises(ValueError, match="role"):
        issue_token("centre-payoke", "janitor", "u", settings=settings)


def test_issue_token_respects_the_requested_lifetime(settings: HarbourSettings) -> None:
    token = issue_token("ops", "operator", "u", settings=settings, ttl=timedelta(minutes=5))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize(
    ("org", "kind"),
    [
        ("centre-payoke", OrgKind.CENTRE),
        ("centre-pag-asa", OrgKind.CENTRE),
        ("centre-surya", OrgKind.CENTRE),
        ("police-federal", OrgKind.POLICE),
        ("police-zone-antwerp", OrgKind.POLICE),
        ("inspection-social", OrgKind.INSPECTORATE),
        ("inspection-labour", OrgKind.INSPECTORATE),
        ("prosecution-antwerp", OrgKind.PROSECUTION),
        ("labour-auditorate-liege", OrgKind.PROSECUTION),
        ("immigration-office", OrgKind.IMMIGRATION_OFFICE),
        ("guardianship-service", OrgKind.GUARDIANSHIP_SERVICE),
        ("ngo-sos-esclaves", OrgKind.FIRST_LINE),
        ("hospital-saint-pierre", OrgKind.FIRST_LINE),
        ("social-service-cpas-ghent", OrgKind.FIRST_LINE),
        ("myria", OrgKind.MYRIA),
        ("ops", OrgKind.OPS),
    ],
)
def test_organisations_are_classified_by_kind(org: str, kind: OrgKind) -> None:
    assert org_kind(org) == kind


async def test_authenticated_reads_the_bearer_token_with_the_app_verifier(settings: HarbourSettings) -> None:
    app = FastAPI()
    app.state.verifier = TokenVerifier(settings)
    token = issue_token("prosecution-antwerp", "magistrate", "m-1", settings=settings)
    caller = await authenticated(_request(app, f"Bearer {token}"))
    assert caller.org == "prosecution-antwerp"
    assert caller.kind == OrgKind.PROSECUTION


@pytest.mark.parametrize("authorization", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer nonsense"])
async def test_authenticated_refuses_a_missing_or_bad_authorization(
    settings: HarbourSettings, authorization: str | None
) -> None:
    app = FastAPI()
    app.state.verifier = TokenVerifier(settings)
    with pytest.raises(Unauthorized):
        await authenticated(_request(app, authorization))


async def test_require_forbids_a_caller_of_the_wrong_kind() -> None:
    only_centres = require(kinds={"centre"})
    with pytest.raises(Forbidden):
        await only_centres(Caller(org="police-federal", role=Role.OFFICER, user="p"))


async def test_require_forbids_a_caller_with_the_wrong_role() -> None:
    only_managers = require(kinds={"centre"}, roles={"manager"})
    with pytest.raises(Forbidden):
        await only_managers(Caller(org="centre-payoke", role=Role.CASEWORKER, user="c"))


async def test_require_forbids_another_organisation() -> None:
    only_payoke = require(orgs={"centre-payoke"})
    with pytest.raises(Forbidden):
        await only_payoke(Caller(org="centre-surya", role=Role.CASEWORKER, user="c"))


async def test_require_admits_a_matching_caller() -> None:
    caller = Caller(org="centre-payoke", role=Role.MANAGER, user="c")
    assert await require(kinds={"centre"}, roles={"manager"})(caller) == caller


def test_require_rejects_a_misspelt_kind_when_the_route_is_declared() -> None:
    with pytest.raises(ValueError):
        require(kinds={"centres"})


_AUDIENCE_KINDS = {"centre": OrgKind.CENTRE, "police": OrgKind.POLICE, "inspectorate": OrgKind.INSPECTORATE,
                   "prosecution": OrgKind.PROSECUTION, "immigration-office": OrgKind.IMMIGRATION_OFFICE,
                   "guardianship-service": OrgKind.GUARDIANSHIP_SERVICE}  # fmt: skip


@pytest.mark.parametrize("audience", all_audiences(get_settings().police_zones))
def test_every_organisation_of_the_audience_registry_can_get_a_token_of_its_kind(
    settings: HarbourSettings, audience: str
) -> None:
    # federal-prosecution had a feed but no token: nobody could read it or act as its magistrate.
    kind = _AUDIENCE_KINDS[audience_kind(audience, get_settings().police_zones).value]
    role = {OrgKind.CENTRE: "caseworker", OrgKind.PROSECUTION: "magistrate"}.get(kind, "officer")
    caller = TokenVerifier(settings).verify(issue_token(audience, role, "u-1", settings=settings))
    assert caller.org == audience and caller.kind is kind
