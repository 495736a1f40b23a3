"""The webhook deliveries' settings, from the environment with the ``HARBOUR_WEBHOOK_`` prefix (pydantic-settings).

The feeds service's own: the runtime's ``HarbourSettings`` knows nothing of webhooks. Read when the service
starts (``delivery.lifespan``), so a test sets them in the environment before it starts the service.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARBOUR_WEBHOOK_", extra="ignore")

    # Failed attempts in a row of one entry before the subscription pauses (the office resumes it, README).
    # With the backoff below, 8 attempts span about 4 minutes: an endpoint down longer waits for its office.
    max_failures: int = Field(8, ge=1, le=1000)
    # Exponential backoff between the failed attempts of one entry: initial x factor^(n-1), at most max.
    backoff_initial_seconds: float = Field(2.0, gt=0)
    backoff_factor: float = Field(2.0, ge=1)
    backoff_max_seconds: float = Field(300.0, gt=0)
    # One attempt's whole time (connect, send, answer). The subscription's row stays locked meanwhile.
    timeout_seconds: float = Field(10.0, gt=0)
    # An idle worker is woken by every new milestone, registration and resume (NOTIFY, on every replica) and at
    # the next retry's time; it also looks this often, in case a notification was lost. Longer than the pool's
    # idle lifetime (HARBOUR_DB_POOL_IDLE_SECONDS), so an idle feeds keeps no pooled connection open for it.
    poll_seconds: float = Field(30.0, gt=0)
    # Concurrent deliveries per process (each holds one database connection while it sends).
    workers: int = Field(2, ge=1, le=16)
    # Tests only: http:// to a loopback address (the test's receiver has no certificate). Production refuses
    # every URL that is not https, so that a signed feed never crosses a network in clear.
    allow_http_localhost: bool = False
    # Endpoints on private, loopback, link-local or reserved addresses (and names like localhost or *.internal)
    # are refused, so that a token holder cannot make feeds call into the network it runs in (SSRF). A
    # deployment whose offices really are on a private network turns this on.
    allow_private_addresses: bool = False
