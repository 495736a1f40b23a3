"""The topic table: every topic Harbour uses, created explicitly (never auto-created by the broker)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest

from harbour.kafka.security import client_options


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    retention_ms: int | None = None  # None: the broker's default (production keeps domain topics long)
    compacted: bool = False
    description: str = ""

    @property
    def dlq(self) -> TopicSpec:
        return TopicSpec(f"{self.name}.dlq", 1, self.key, None, False, f"dead letters of {self.name}")


# Every service's domain topic has one shape; its name is the service's own (``ServiceDefinition.domain_topic``,
# ``<service>.events.v1``), so the runtime lists no service.
DOMAIN_PARTITIONS = 4
DOMAIN_TOPIC_KEY = "case id"
_DOMAIN_TOPIC_NAME = re.compile(r"^(?P<service>[a-z][a-z0-9-]*)\.events\.v1$")


def domain_topic(name: str, service: str) -> TopicSpec:
    """The spec of ``service``'s domain topic ``name`` (the one its definition declares)."""
    return TopicSpec(
        name, DOMAIN_PARTITIONS, DOMAIN_TOPIC_KEY, description=f"{service} domain events, platform services only"
    )


_topics: list[TopicSpec] = []


def register_topics(specs: Iterable[TopicSpec]) -> None:
    """Each part adds its topics here (a service definition its domain topic, the audience milestones theirs, test
    services their own), so one table lists them all; the first spec of a name stays."""
    for spec in specs:
        if spec.name not in {t.name for t in _topics}:
            _topics.append(spec)


def topic_table(include_dlq: bool = True) -> list[TopicSpec]:
    topics = list(_topics)
    if include_dlq:
        topics += [t.dlq for t in topics if not t.name.endswith(".dlq")]
    return topics


def consumed_topics(names: Iterable[str], exclude: Iterable[TopicSpec] = ()) -> list[TopicSpec]:
    """The specs of the topics a service consumes, those of the table first (in its order), then the domain topics of
    services this process does not import (not in its table, and every domain topic has the same shape); a name
    that is neither is left out, as before."""
    wanted, skip = set(names), {t.name for t in exclude}
    table = [t for t in topic_table(include_dlq=False) if t.name in wanted and t.name not in skip]
    listed = {t.name for t in table} | skip
    others = [
        domain_topic(name, named["service"])
        for name in sorted(wanted - listed)
        if (named := _DOMAIN_TOPIC_NAME.match(name)) is not None
    ]
    return table + others


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], *, replication_factor: int = 1) -> list[str]:
    """Create the topics that are missing; returns their names. Safe to call again after a broker restart."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000, **client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return []
        configs = {}
        new = []
        for spec in missing:
            config: dict[str, str] = {}
            if spec.retention_ms is not None:
                config["retention.ms"] = str(spec.retention_ms)
            if spec.compacted:
                config["cleanup.policy"] = "compact"
            configs[spec.name] = config
            new.append(NewTopic(spec.name, spec.partitions, replication_factor, topic_configs=config or None))
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass  # another process created them first
        # Metadata of a fresh topic reaches the producer a moment later; wait until it is listed.
        for _ in range(50):
            if {s.name for s in missing} <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.1)
        return [s.name for s in missing]
    finally:
        await admin.close()


class TopicKeeper:
    """Keeps the table's topics present: a memory broker that restarted comes back without any.

    Checked before and after every relay batch and periodically by each service, because such a broker
    still accepts produce requests for a topic it no longer has (from a producer with cached metadata) and
    those messages would be lost without an error.
    """

    def __init__(self, bootstrap: str, specs: Iterable[TopicSpec], *, replication_factor: int = 1) -> None:
        self.bootstrap = bootstrap
        self.specs = list(specs)
        self.replication_factor = replication_factor
        self._admin: AIOKafkaAdminClient | None = None
        self.recreated = 0

    async def _client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000, **client_options())
            await admin.start()
            self._admin = admin
        return self._admin

    async def missing(self) -> list[str]:
        """The kept topics the broker does not have. Asks for these topics only, never creating one: the metadata
        of every topic on the broker (``list_topics``, about a hundred on a platform's broker) cost the relay 3 ms
        of Python decoding per call here against 0.26 ms for its own topics, twice a batch, and a batch is often
        one event. ``allow_auto_topic_creation=False``: a broker that creates a topic because it was asked about
        it would create it with its default partitions, hiding the loss this looks for (Tansu honours it:
        checked, the topic asked about was not created)."""
        names = [s.name for s in self.specs]
        if not names:
            return []  # an empty list would ask for every topic
        try:
            admin = await self._client()
            # aiokafka's admin client has no public call for a metadata request that must not create topics.
            answer = await admin._send_request(MetadataRequest(names, allow_auto_topic_creation=False))
        except Exception:
            await self.close()
            raise
        present = {topic[1] for topic in answer.topics if topic[0] == 0}  # (error code, name, ...): 0 is there
        return [name for name in names if name not in present]

    async def ensure(self) -> list[str]:
        """Create whatever is missing; returns what was created (empty when all were there)."""
        if not await self.missing():
            return []
        created = await ensure_topics(self.bootstrap, self.specs, replication_factor=self.replication_factor)
        self.recreated += len(created)
        return created

    async def close(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            try:
                await admin.close()
            except Exception:  # a client of a dead broker may fail to close cleanly
                pass


async def broker_reachable(bootstrap: str, timeout: float = 3.0) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **client_options())
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await admin.close()
        return True
    except (KafkaError, OSError, TimeoutError):
        try:
            await admin.close()
        except Exception:
            pass
        return False
