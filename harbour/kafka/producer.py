"""Producers built from settings: idempotence and acks are settings (off/all locally, on in production)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from harbour.kafka.security import client_options
from harbour.settings import HarbourSettings


def make_producer(bootstrap: str, settings: HarbourSettings) -> AIOKafkaProducer:
    acks: int | str = settings.kafka_acks if settings.kafka_acks == "all" else int(settings.kafka_acks)
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=acks,
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=2,
        request_timeout_ms=10000,
        max_batch_size=256 * 1024,
        **client_options(settings),
    )
