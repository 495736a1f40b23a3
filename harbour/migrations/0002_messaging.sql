-- Where each follower of the store (relay, projections) stands, as a (tx_id, global_position) pair.
CREATE TABLE checkpoints (
    name            text PRIMARY KEY,
    tx_id           bigint NOT NULL DEFAULT 0,
    global_position bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The inbox: a row per (consumer, event) written in the same transaction as the consumer's effects,
-- so a redelivered message finds its row and has no second effect.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
