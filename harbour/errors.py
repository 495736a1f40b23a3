"""Errors that carry their own HTTP meaning, so every service answers in RFC 9457 problem documents."""

from __future__ import annotations


class HarbourError(Exception):
    status: int = 500
    title: str = "Internal error"
    type_slug: str = "internal"

    def __init__(self, detail: str, *, field: str | None = None, **extra: str | list[str] | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        # Members added to the problem document (RFC 9457 extensions): the ``rule`` a date broke, the
        # ``allowed`` values of a field. Closed values only: never echo the caller's input back.
        self.extra = {k: v for k, v in extra.items() if v is not None}


class RuleViolation(HarbourError):
    """A command contradicts the domain's rules (e.g. a second renewal of an attestation of immatriculation)."""

    status = 422
    title = "The request breaks a rule of the procedure"
    type_slug = "rule-violation"


class ConcurrencyError(HarbourError):
    """Someone else changed the stream since it was read: the caller must re-read, never overwrite."""

    status = 409
    title = "The case changed meanwhile"
    type_slug = "version-conflict"

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"expected version {expected} but the stream is at {actual}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class NotFound(HarbourError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Forbidden(HarbourError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class Unauthorized(HarbourError):
    status = 401
    title = "Unauthorized"
    type_slug = "unauthorized"


class DependencyUnavailable(HarbourError):
    status = 503
    title = "A dependency is unavailable"
    type_slug = "dependency-unavailable"
