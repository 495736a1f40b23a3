"""How every Kafka client of a service authenticates: plaintext locally, SASL/SCRAM in production."""

from __future__ import annotations

from typing import Any

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from harbour.settings import HarbourSettings, get_settings


def client_options(settings: HarbourSettings | None = None) -> dict[str, Any]:
    """Keyword arguments for aiokafka's producers, consumers and admin clients."""
    settings = settings or get_settings()
    if settings.kafka_security_protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


def faststream_security(settings: HarbourSettings) -> BaseSecurity | None:
    """The same credentials for FastStream's broker (its consumers and the dead-letter publisher)."""
    if settings.kafka_security_protocol == "PLAINTEXT" or not settings.kafka_sasl_mechanism:
        return None
    kinds = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
    try:
        kind = kinds[settings.kafka_sasl_mechanism]
    except KeyError:
        raise ValueError(f"unsupported SASL mechanism {settings.kafka_sasl_mechanism!r}") from None
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    # TLS is not configured here: the brokers are reached on the deployment's private network (deploy/README.md).
    return kind(settings.kafka_sasl_username or "", password, use_ssl=settings.kafka_security_protocol == "SASL_SSL")
