-- Signed webhooks: an office's HTTPS endpoint that is sent its audience's feed, entry by entry, in cursor order
-- (services/feeds/webhooks/, README "Webhooks").

CREATE TABLE webhook_subscriptions (
    subscription_id  uuid        PRIMARY KEY,
    audience         text        NOT NULL,
    url              text        NOT NULL,
    -- The signing secret, sealed by the vault (harbour.pii: a key of its own, wrapped by the master key, rotated
    -- with it) as a harbour.pii.Sealed JSON; never in clear, so a dump or a backup of this table signs nothing.
    secret           jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    -- The last cursor the endpoint acknowledged (2xx): the next delivery is the feed's entry after it.
    delivered_cursor bigint      NOT NULL DEFAULT 0 CHECK (delivered_cursor >= 0),
    -- Failed attempts in a row of the entry after delivered_cursor; at the configured maximum, the subscription pauses.
    failures         integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    next_attempt_at  timestamptz NOT NULL,
    paused_at        timestamptz,
    created_at       timestamptz NOT NULL,
    CHECK ((status = 'paused') = (paused_at IS NOT NULL))
);

-- What the delivery workers look for: active subscriptions that are due (the feed's EXISTS is checked per row).
CREATE INDEX webhook_subscriptions_due ON webhook_subscriptions (next_attempt_at) WHERE status = 'active';
CREATE INDEX webhook_subscriptions_audience ON webhook_subscriptions (audience, subscription_id);

-- The delivery log, one row per attempt, written in the transaction that records its outcome. One worker at a
-- time holds a subscription (its row lock, for the whole attempt), so one subscription's attempts commit in
-- attempt order and a page read after attempt n never misses one committed later with a smaller number.
CREATE TABLE webhook_deliveries (
    attempt         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id uuid        NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
    cursor          bigint      NOT NULL CHECK (cursor > 0),   -- the feed entry sent
    webhook_id      text        NOT NULL,                      -- the webhook-id header: the same for every attempt
    attempted_at    timestamptz NOT NULL,
    outcome         text        NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    status_code     integer,                                   -- the endpoint's answer; null when none came
    error           text,                                      -- what went wrong, as a closed name: never a body
    paused          boolean     NOT NULL DEFAULT false         -- this failure paused the subscription
);

CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, attempt);
