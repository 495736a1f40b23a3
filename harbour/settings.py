"""Configuration, from the environment with the ``HARBOUR_`` prefix (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class HarbourSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARBOUR_", extra="ignore")

    # PostgreSQL: a server URL without database name (each service gets its own database on it),
    # or empty to use the machine's server on 127.0.0.1:5432 or else an embedded one under var/.
    database_url: str | None = None
    database_prefix: str = Field("harbour_", description="prefix of every service's database name")
    # Each service's connection pool. Small by default: five services share one server, and every replica
    # also holds its dedicated connections (relay, milestone relay, timers' lock; README "Connections").
    # A pooled connection unused for db_pool_idle_seconds is closed: a burst's connections do not stay.
    db_pool_min: int = 0
    db_pool_max: int = 8
    db_pool_idle_seconds: float = 10.0
    # Load shedding, per service process (harbour.http.shedding; 0 = no limit). Beyond max_in_flight requests in
    # progress a request waits at most queue_wait_seconds (and at most max_queued wait), then gets a 503; a
    # caller (token's organisation, else client address) beyond its share gets a 429. The deadline bounds, in
    # PostgreSQL, every statement a request runs. Both answers carry Retry-After: shed_retry_after_seconds.
    # Tuned with bench/overload.py on a 2-core machine (bench/README.md): admitted p99 under 1 s at 4x capacity.
    max_in_flight: int = 6
    max_in_flight_per_caller: int = 3
    max_queued: int = 8
    queue_wait_seconds: float = 0.2
    request_deadline_seconds: float = 1.0
    shed_retry_after_seconds: float = 1.0
    # Trace files under var/traces (no OTLP endpoint) rotate by size: each service's take at most
    # trace_file_max_bytes x trace_files_kept bytes (harbour.trace_files).
    trace_file_max_bytes: int = 10_000_000
    trace_files_kept: int = 3
    # Off only where every span is read from an in-memory exporter instead (the test suite, tests/conftest.py):
    # encoding each span to OTLP JSON is about a tenth of the suite's CPU and no test reads those files but the
    # rotation test, which turns them on. Spans are still made and propagated either way.
    trace_files: bool = True
    # A span for every SQL statement (asyncpg's instrumentation; statements without their parameters). Off by
    # default: a command's, a relay batch's and a consumed message's spans already time the step, and a span per
    # statement (a referral runs dozens) made span creation and export a large share of every service's CPU
    # (bench/README.md). On to see which statement of a step is slow.
    trace_queries: bool = False
    # Kafka: a bootstrap list, or empty to start the embedded Tansu broker on 127.0.0.1:9092.
    kafka_bootstrap: str | None = None
    # The embedded broker has no idempotent producer; production turns idempotence on.
    kafka_idempotence: bool = False
    kafka_acks: str = "all"
    # Authentication to the production cluster (SASL/SCRAM, one principal per service); plaintext locally.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_replication_factor: int = 1
    var_dir: Path = REPO_ROOT / "var"
    # Where the documentation pages' npm packages are (harbour_tools/install_docs_assets.sh; the image sets its own).
    docs_assets_dir: Path = REPO_ROOT / "docs_assets" / "node_modules"
    jurisdiction: str = "BE"
    # Base64 of 32 bytes wrapping every per-person key; generated under var/ for development.
    master_key: str | None = None
    master_key_version: int = 1
    # Other master key versions this process unwraps with but never wraps with, as JSON {"<version>": "<base64>"}:
    # the next key before a rotation, the previous one until it is complete (deploy/README.md "Rotate").
    master_key_ring: dict[int, SecretStr] = Field(default_factory=dict)
    jwt_issuer: str = "harbour-dev-issuer"
    jwt_audience: str = "harbour"
    # PEM files of the public keys that tokens may be signed with; default: the development key under var/.
    jwt_public_keys: list[Path] = Field(default_factory=list)
    consumer_max_attempts: int = 3
    # Short group timeouts: the embedded broker forms a group in about rebalance timeout + 1 s.
    consumer_session_timeout_ms: int = 10000
    consumer_heartbeat_ms: int = 1000
    consumer_rebalance_timeout_ms: int = 2000
    # How long a handled record's offset waits to be committed with the ones handled after it (harbour.kafka.commits);
    # after a crash, about this much is read again (and applied once, by the inbox).
    consumer_commit_seconds: float = 0.5
    # Appended to every consumer group id: services that share a broker without sharing work (tests, a
    # blue/green switch) then never wait on each other's group membership.
    consumer_group_suffix: str = ""
    # How often each replica measures its consumer groups' lag from the broker (end offsets minus committed ones,
    # harbour.kafka.lag), whether or not messages are being handled.
    consumer_lag_seconds: float = 15.0
    relay_batch_size: int = 2000
    topic_check_seconds: float = 5.0
    relay_poll_seconds: float = 1.0
    # How often a relay looks whether the broker still holds what it acknowledged (harbour.kafka.rebuild);
    # it also looks when it takes the lead and after any failed batch.
    relay_loss_check_seconds: float = 2.0
    timer_poll_seconds: float = 1.0
    # Each part of a stopping service (consumers, relays, timers, the pool) gets this long, then is abandoned and
    # the pool terminated: a SIGTERM ends the process even when a connection or a broker never answers.
    stop_grace_seconds: float = 10.0
    reminder_days: list[int] = Field(default_factory=lambda: [14, 3])
    # Which sources say a B-card may follow the prosecutor's requisitions alone: off by default (DOMAIN §2).
    b_card_on_requisitions: bool = False
    plan_review_months: int = 3
    # Audience milestones (the ``milestones`` package). Local police zones that have an audience topic of their own
    # (``milestones.<zone>.v1``); a referral from a zone not listed reaches no police topic and is counted.
    police_zones: list[str] = Field(
        default_factory=lambda: ["police-antwerp", "police-brussels-capital-ixelles", "police-liege"]
    )
    # Base64 of 32 bytes from which every audience's pseudonym key is derived (HKDF with the audience id);
    # generated under var/keys/ for development. Rotating it changes every audience's case references.
    pseudonym_key: str | None = None
    # How long the milestone relay waits for the facts of a case (who its audiences are) to arrive from
    # upstream before it publishes to the audiences it knows and counts the rest as unrouted.
    milestone_fact_wait_seconds: float = 30.0
    # Base64 of 32 bytes: the statistics service's HMAC key for its fact table's row keys (an HMAC of the case id,
    # so the table cannot be joined back to a case without it); generated under var/keys/ for development.
    statistics_fact_key: SecretStr | None = None
    # The privacy loss all differentially private releases of one period may spend together (statistics service):
    # a release that would pass it is refused. Each release states its own epsilon.
    statistics_epsilon_per_period: float = Field(1.0, gt=0, le=10)
    service_version: str = "0.1.0"
    # Added to every service's port by `harbour up` (HARBOUR_PORT_OFFSET): run a second copy, or a test, next to
    # one that already holds 8101-8105.
    port_offset: int = 0

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def traces_dir(self) -> Path:
        return self.var_dir / "traces"


@lru_cache
def get_settings() -> HarbourSettings:
    return HarbourSettings()
