"""A service's wiring: its definition (what it owns) and its runtime (what runs while it is up).

Every service is one process: the HTTP API, its outbox relay, its consumers and its timers. The relay and
the timers run as one leader per service across replicas (PostgreSQL advisory locks); the API and the
consumers scale out (consumer groups).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from harbour import idempotency, logsafe, telemetry
from harbour.auth import Caller, TokenVerifier
from harbour.clock import Clock, SystemClock
from harbour.db import HARBOUR_MIGRATIONS, Connection, create_pool, database_url, ensure_database, migrate
from harbour.events import DomainEvent
from harbour.http import docs, inputs, openapi
from harbour.http.problems import ConnectionFailureShield, install_problem_handlers
from harbour.http.shedding import LoadShedding
from harbour.kafka.consumer import GroupTimeouts, HandlerContext, InboxConsumer, Subscription, read_by_its_consumer
from harbour.kafka.lag import ConsumerLagWatch
from harbour.kafka.relay import OutboxRelay, Route
from harbour.kafka.security import faststream_security
from harbour.kafka.topics import TopicKeeper, TopicSpec, consumed_topics, domain_topic, register_topics, topic_table
from harbour.pii import PersonalDataVault
from harbour.projection import Projection
from harbour.repository import Repository
from harbour.settings import HarbourSettings, get_settings
from harbour.store import Actor, CommandContext, EventStore, RecordedEvent
from harbour.timers import Timer, TimerRunner

log = logging.getLogger("harbour.service")

TimerHandler = Callable[[HandlerContext, Timer], Awaitable[None]]


class RelayPlan(Protocol):
    """A relay a service runs besides its domain relay, built when the runtime starts (it needs the store)."""

    def relay(self, *, store: EventStore, dsn: str, bootstrap: str, settings: HarbourSettings) -> OutboxRelay: ...


@dataclass
class ServiceDefinition:
    """What a service owns, all of it declared here: the runtime adds nothing (no part is implied by its name)."""

    name: str
    title: str
    description: str
    port: int
    domain_topic: str | None
    migrations: Path | None = None
    routers: Sequence[APIRouter] = ()
    projections: Sequence[Projection] = ()
    subscriptions: Sequence[Subscription] = ()
    timer_handlers: Mapping[str, TimerHandler] = field(default_factory=dict)
    routes: Sequence[Route] = ()  # extra messages per stored event, published by the domain relay
    topics: Sequence[TopicSpec] = ()  # topics this service publishes besides its domain topic
    published_events: Sequence[type[DomainEvent]] = ()  # for the AsyncAPI document
    # The committed AsyncAPI document (schemas/asyncapi/<name>.json, the published contract), served at
    # /asyncapi.json and rendered at /asyncapi; None: the one generated from the broker's description.
    asyncapi_document: Path | None = None
    # A second relay with its own checkpoint (the audience milestones' ``milestones.for_service`` gives one: a
    # package above the runtime), so that a milestone waiting for its case's facts never delays the domain events.
    # None: no such relay.
    milestone_route: RelayPlan | None = None
    # Gauges read from the service's read models, refreshed at every /metrics scrape (a count that changes
    # with the calendar, not only with events): ``await refresh(runtime, conn)``.
    gauges: Sequence[Callable[[ServiceRuntime, Any], Awaitable[None]]] = ()
    # An ASGI wrapper put in front of everything the service runs but load shedding (tracing, logging, the
    # routes): the public signals service removes the client's address, user agent and cookies from each request
    # there, so that no span, log line or handler ever sees them. None: requests pass as they come.
    front: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        # The topic table learns each domain topic from the service that declares it (a spec registered first,
        # by a test say, stays); the definition itself is left as declared.
        if self.domain_topic:
            register_topics([domain_topic(self.domain_topic, self.name)])

    def database(self, settings: HarbourSettings) -> str:
        return f"{settings.database_prefix}{self.name}"


@dataclass
class Endpoints:
    database_url: str  # the service's own database
    bootstrap: str


def default_endpoints(definition: ServiceDefinition, settings: HarbourSettings) -> Endpoints:
    server = settings.database_url or "postgresql://postgres@127.0.0.1:5432/postgres"
    return Endpoints(database_url(server, definition.database(settings)), settings.kafka_bootstrap or "127.0.0.1:9092")


class ServiceRuntime:
    """Everything a running service holds. ``app.state.runtime`` in the API; ``ctx.runtime`` in handlers."""

    def __init__(
        self,
        definition: ServiceDefinition,
        endpoints: Endpoints,
        *,
        settings: HarbourSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.definition = definition
        self.name = definition.name
        self.endpoints = endpoints
        self.settings = settings or get_settings()
        self.clock = clock or SystemClock()
        self.vault = PersonalDataVault.from_settings(self.settings)
        self.pool: asyncpg.Pool
        self.store: EventStore
        self.repository: Repository
        self.relay: OutboxRelay
        self.milestone_relay: OutboxRelay | None = None  # its own checkpoint: a wait for facts never delays events
        self.timers: TimerRunner
        self.consumers: list[InboxConsumer] = []
        self.broker = self._make_broker()
        self.consumer_lag = ConsumerLagWatch(service=self.name, bootstrap=self.endpoints.bootstrap,
                                             settings=self.settings, groups=self._groups())  # fmt: skip
        self._started = False
        self._watch: asyncio.Task[None] | None = None

    # -- Kafka --------------------------------------------------------------------------------------------
    def _make_broker(self) -> KafkaBroker:
        provider = telemetry.tracer_provider(self.name, self.settings)
        acks: Any = self.settings.kafka_acks if self.settings.kafka_acks == "all" else int(self.settings.kafka_acks)
        broker = KafkaBroker(
            self.endpoints.bootstrap,
            acks=acks,
            enable_idempotence=self.settings.kafka_idempotence,
            security=faststream_security(self.settings),
            middlewares=(telemetry.kafka_middleware(provider, traced=read_by_its_consumer),),
            logger=logging.getLogger(f"harbour.{self.name}.kafka"),
            # No dependency injection: the handler takes the message as its body (``decode_nothing``). With it,
            # FastDepends resolved the handler's ``KafkaMessage`` parameter, a context field, by a sync call in a
            # worker thread for every record: a tenth of a consumer's CPU (py-spy, bench.e2e --profile).
            apply_types=False,
        )
        timeouts: GroupTimeouts = {
            "session_timeout_ms": self.settings.consumer_session_timeout_ms,
            "heartbeat_interval_ms": self.settings.consumer_heartbeat_ms,
            "rebalance_timeout_ms": self.settings.consumer_rebalance_timeout_ms,
        }
        for subscription in self.definition.subscriptions:
            consumer = InboxConsumer(self, subscription)
            consumer.register(broker, group_timeouts=timeouts)
            self.consumers.append(consumer)
        # Described, not used to publish: the relay publishes, from the store (the AsyncAPI document is a contract).
        if self.definition.domain_topic:
            for event_cls in self.definition.published_events:
                broker.publisher(
                    self.definition.domain_topic,
                    title=f"{self.definition.domain_topic}:{event_cls.event_type}",
                    description=(event_cls.__doc__ or "").strip(),
                    schema=event_cls,
                )
        return broker

    def topics(self) -> list[TopicSpec]:
        own = [t for t in topic_table() if t.name == self.definition.domain_topic]
        extra = list(self.definition.topics)
        consumed = {s.topic for s in self.definition.subscriptions}
        # The consumed topics too: a consumer that subscribes before its upstream created the topic is
        # assigned no (or too few) partitions until its next metadata refresh, minutes later.
        upstream = consumed_topics(consumed, exclude=own)
        dlqs = [t.dlq for t in own + upstream]
        return own + extra + [t.dlq for t in extra] + upstream + dlqs

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self, *, background: bool = True) -> None:
        server_url = self.endpoints.database_url.rpartition("/")[0] + "/postgres"
        await ensure_database(server_url, self.endpoints.database_url.rpartition("/")[2])
        self.pool = await create_pool(self.endpoints.database_url, min_size=self.settings.db_pool_min,
                                      max_size=self.settings.db_pool_max,
                                      idle_seconds=self.settings.db_pool_idle_seconds)  # fmt: skip
        # Erasures purge the dead copies of a key through this pool, whichever connection erased.
        self.vault.attach(self.pool)
        dirs = {"harbour": HARBOUR_MIGRATIONS}
        if self.definition.migrations is not None:
            dirs[self.name] = self.definition.migrations
        await migrate(self.pool, dirs)
        self.store = EventStore(self.pool, clock=self.clock, jurisdiction=self.settings.jurisdiction,
                                on_append=self._count_appends)  # fmt: skip
        self.repository = Repository(self.store, self.definition.projections)
        self.relay = OutboxRelay(
            service=self.name, store=self.store, dsn=self.endpoints.database_url, bootstrap=self.endpoints.bootstrap,
            settings=self.settings, domain_topic=self.definition.domain_topic, topics=self.topics(),
            routes=self.definition.routes,
        )  # fmt: skip
        if self.definition.milestone_route is not None:
            self.milestone_relay = self.definition.milestone_route.relay(
                store=self.store, dsn=self.endpoints.database_url, bootstrap=self.endpoints.bootstrap,
                settings=self.settings,
            )  # fmt: skip
        self.timers = TimerRunner(self.pool, self.clock, self._timer_handlers(), self.settings.timer_poll_seconds,
                                  lock_name=f"harbour.timers.{self.name}")  # fmt: skip
        if background:
            self._watch = asyncio.create_task(self._keep_topics(), name=f"topics:{self.name}")
            # Only what has work to do holds a connection (an idle platform must fit in 20, README
            # "Connections"): a relay with no topic and no route would publish nothing, and a runner
            # with no timer handler would fire nothing.
            if self.definition.domain_topic or self.definition.routes:
                self.relay.start()
            if self.milestone_relay is not None:
                self.milestone_relay.start()
            if self.definition.timer_handlers:
                await self.timers.start()
            if self.consumers:
                await self._start_broker()
                self.consumer_lag.start()
        self._started = True

    def _groups(self) -> dict[str, tuple[str, list[str]]]:
        """Each consumer name -> its group id and the topics its subscriptions read (the lag watch's groups)."""
        groups: dict[str, tuple[str, list[str]]] = {}
        for sub in self.definition.subscriptions:
            _, topics = groups.setdefault(sub.consumer, (sub.consumer + self.settings.consumer_group_suffix, []))
            if sub.topic not in topics:
                topics.append(sub.topic)
        return groups

    def running_relays(self) -> list[OutboxRelay]:
        """The relays this replica runs (leading or waiting to lead)."""
        return [r for r in (self.relay, self.milestone_relay) if r is not None and r.started]

    async def _start_broker(self) -> None:
        from harbour.kafka.topics import ensure_topics

        await ensure_topics(self.endpoints.bootstrap, self.topics(),
                            replication_factor=self.settings.kafka_replication_factor)  # fmt: skip
        # FastStream's broker.start() starts subscribers one after another, and each waits for its consumer
        # group to form (seconds on any broker); every service has several groups (its handlers and the
        # case-audiences consumers), so they join together instead. Same steps as KafkaBroker.start otherwise.
        await self.broker.connect()
        await asyncio.gather(*(subscriber.start() for subscriber in self.broker.subscribers))
        for publisher in self.broker.publishers:
            await publisher.start()
        self.broker.running = True

    async def _keep_topics(self) -> None:
        """Recreate this service's topics when a broker comes back empty, for consumers too (not only the relay)."""
        keeper = TopicKeeper(self.endpoints.bootstrap, self.topics(),
                             replication_factor=self.settings.kafka_replication_factor)  # fmt: skip
        try:
            while True:
                await asyncio.sleep(self.settings.topic_check_seconds)
                with contextlib.suppress(Exception):
                    await keeper.ensure()
        finally:
            await keeper.close()

    async def stop(self) -> None:
        """Stop every part, each within ``stop_grace_seconds``: a SIGTERM must end the process.

        A part that overruns its grace is abandoned, and the pool terminated instead of closed: asyncpg's
        ``Pool.close`` waits without limit for every acquired connection (a request or handler stuck on a stalled
        database), and a consumer or producer stop can wait on a broker that no longer answers.
        """
        if not self._started:
            return
        if self._watch is not None:
            self._watch.cancel()
            await self._within_grace("topic watch", _reaped(self._watch))
        await self._within_grace("consumer lag", self.consumer_lag.stop())
        await self._within_grace("consumers", self.broker.stop())
        await self._within_grace("relay", self.relay.stop())
        if self.milestone_relay is not None:
            await self._within_grace("milestone relay", self.milestone_relay.stop())
        # The timers wait up to their own grace for a firing timer before cancelling it; this bounds that wait too.
        await self._within_grace("timers", self.timers.stop())
        await self._within_grace(
            "vault", self.vault.close()
        )  # a purge still pending stays recorded: the next one takes it
        if not await self._within_grace("database pool", self.pool.close()):
            self.pool.terminate()  # an unreleased connection is cut; its open transaction rolls back
        telemetry.shutdown_providers()
        self._started = False

    async def _within_grace(self, part: str, step: Coroutine[Any, Any, object]) -> bool:
        """Run one stop step for at most the grace; False (logged, by part and error type only) if it did not
        finish cleanly. The step runs as a task of its own and is abandoned, not awaited, once the grace is over:
        a step that swallows cancellation (waiting on its own task's cleanup) would otherwise hold the stop again.
        """
        task = asyncio.ensure_future(step)
        done, _ = await asyncio.wait({task}, timeout=self.settings.stop_grace_seconds)
        if not done:
            task.cancel()
            log.warning("%s: stopping the %s took over %s s; abandoned", self.name, part,
                        self.settings.stop_grace_seconds)  # fmt: skip
            return False
        if task.cancelled() or task.exception() is not None:
            error = "cancelled" if task.cancelled() else type(task.exception()).__name__
            log.warning("%s: stopping the %s failed (%s)", self.name, part, error)
            return False
        return True

    def _count_appends(self, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            telemetry.APPENDS.labels(self.name, event.event_type).inc()

    def _timer_handlers(self) -> dict[str, Callable[[Connection, Timer], Awaitable[None]]]:
        def adapt(handler: TimerHandler) -> Callable[[Connection, Timer], Awaitable[None]]:
            async def fire(conn: Connection, timer: Timer) -> None:
                command = CommandContext(actor=Actor.system(f"{self.name}.timers"),
                                         traceparent=telemetry.current_traceparent())  # fmt: skip
                await handler(HandlerContext(conn, self, command, None), timer)
                telemetry.TIMERS_FIRED.labels(self.name, timer.kind).inc()

            return fire

        return {kind: adapt(h) for kind, h in self.definition.timer_handlers.items()}

    # -- helpers for the API -----------------------------------------------------------------------------
    def command_context(self, caller: Caller) -> CommandContext:
        return CommandContext(actor=Actor(caller.org, str(caller.role), caller.user),
                              traceparent=telemetry.current_traceparent())  # fmt: skip

    def asyncapi(self) -> AsyncAPI:
        return AsyncAPI(self.broker, title=f"Harbour {self.definition.title}", version=self.settings.service_version,
                        description=self.definition.description, schema_version="3.0.0")  # fmt: skip


def runtime(request: Request) -> ServiceRuntime:
    """FastAPI dependency: the running service."""
    running: ServiceRuntime = request.app.state.runtime
    return running


RuntimeDep = Depends(runtime)


async def _reaped(task: asyncio.Task[None]) -> None:
    """Wait for a cancelled background task to end; its cancellation is the expected outcome."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def create_app(
    definition: ServiceDefinition,
    *,
    settings: HarbourSettings | None = None,
    clock: Clock | None = None,
    endpoints: Endpoints | None = None,
    background: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    logsafe.install()  # exception texts and tracebacks never reach a log (harbour/logsafe.py)
    service_runtime = ServiceRuntime(definition, endpoints or default_endpoints(definition, settings),
                                     settings=settings, clock=clock)  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service_runtime.start(background=background)
        try:
            yield
        finally:
            await service_runtime.stop()

    # FastAPI's own /docs and /redoc load their scripts from public CDNs: harbour/http/docs.py serves both.
    app = FastAPI(title=f"Harbour {definition.title}", description=definition.description,
                  version=settings.service_version, lifespan=lifespan, docs_url=None, redoc_url=None)  # fmt: skip
    app.state.runtime = service_runtime
    app.state.verifier = TokenVerifier(settings)
    install_problem_handlers(app)
    for router in definition.routers:
        idempotency.install(router)  # every command route takes an Idempotency-Key (harbour/idempotency.py)
        inputs.install(router)  # no NUL, no integer past int64 reaches a query: 422, never 500 (http/inputs.py)
        app.include_router(router)
    _add_platform_routes(app, service_runtime)
    openapi.install(app, definition.routers)  # a document that says what is answered (harbour/http/openapi.py)
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # Without the ASGI "http receive"/"http send" spans: three more spans per request that say nothing the
    # server span does not, and that the exporter paid for on every command.
    FastAPIInstrumentor.instrument_app(app, tracer_provider=telemetry.tracer_provider(definition.name, settings),
                                       excluded_urls="health,metrics", exclude_spans=["receive", "send"])  # fmt: skip
    # Added last, so outermost of the middleware: a lost database anywhere under it is a 503, never a 500.
    app.add_middleware(ConnectionFailureShield)
    _shed_before_everything(app, definition.name, settings, definition.front)
    return app


def _shed_before_everything(
    app: FastAPI, service: str, settings: HarbourSettings, front: Callable[[Any], Any] | None = None
) -> None:
    """Load shedding in front of the whole stack, the tracing middleware included: a request that is shed costs
    no span, no token check, no body and no query, so that shedding stays cheap when it is most needed. The
    definition's ``front`` wrapper, if any, sits just behind it (shedding still shares by client, in memory)."""
    build = app.build_middleware_stack

    def build_with_shedding() -> Any:
        inner = build()
        app.state.load_shedding = LoadShedding(front(inner) if front else inner, service=service, settings=settings)
        return app.state.load_shedding

    app.build_middleware_stack = build_with_shedding  # type: ignore[method-assign]


def _add_platform_routes(app: FastAPI, rt: ServiceRuntime) -> None:
    @app.get("/health", tags=["platform"], include_in_schema=False)
    async def health() -> JSONResponse:
        try:
            async with rt.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except Exception:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "relay_leader": rt.relay.is_leader})

    @app.get("/metrics", tags=["platform"], include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        with contextlib.suppress(Exception):
            async with rt.pool.acquire() as conn:
                telemetry.TIMERS_DUE.labels(rt.name).set(await rt.timers.due_count(conn))
                # Every replica, leader or not: a relay with no leader anywhere still shows its lag, and that
                # no replica leads it (harbour_relay_leader).
                for relay in rt.running_relays():
                    await relay.report(conn)
                for refresh in rt.definition.gauges:
                    await refresh(rt, conn)
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    committed = rt.definition.asyncapi_document

    def asyncapi_document() -> dict[str, Any]:
        if committed is not None:
            document: dict[str, Any] = json.loads(committed.read_text(encoding="utf-8"))
            return document
        generated: dict[str, Any] = rt.asyncapi().to_specification().to_jsonable()
        return generated

    docs.install(app, asyncapi=asyncapi_document, root=rt.settings.docs_assets_dir)
