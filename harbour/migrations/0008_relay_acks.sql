-- What each relay had the broker acknowledge, so that it can tell when the broker lost it (harbour.kafka.rebuild).
--
-- A row per (relay, topic, partition) the relay published to: the offset and a fingerprint (64 bits of a
-- BLAKE2b of key and value) of the last record the broker acknowledged there, and of an older one ("anchor")
-- that the relay has since found still in place. Written in the transaction that moves the relay's checkpoint,
-- so the two always agree, and kept across restarts: a relay that starts again checks them before it publishes.
-- Offsets alone cannot tell a lost log: another service may recreate the topic and fill it past them first
-- (several milestone relays write each audience topic), so the fingerprint says whether it is the same record.
CREATE TABLE relay_acks (
    relay              text    NOT NULL,
    topic              text    NOT NULL,
    partition          integer NOT NULL,
    last_offset        bigint  NOT NULL,
    last_fingerprint   bigint  NOT NULL,
    anchor_offset      bigint  NOT NULL,
    anchor_fingerprint bigint  NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (relay, topic, partition)
);

-- Every time a relay found the broker had lost what it acknowledged and went back to publish its store again:
-- why (topics, partitions and offsets only: never a value), where its checkpoint was, how many events that
-- covered, and when the re-publishing had caught up with where the relay had been.
CREATE TABLE relay_rebuilds (
    id                         bigserial PRIMARY KEY,
    relay                      text        NOT NULL,
    reason                     text        NOT NULL,
    detected_at                timestamptz NOT NULL DEFAULT now(),
    from_tx_id                 bigint      NOT NULL,
    from_global_position       bigint      NOT NULL,
    checkpoint_tx_id           bigint      NOT NULL,
    checkpoint_global_position bigint      NOT NULL,
    events                     bigint      NOT NULL,
    completed_at               timestamptz
);
CREATE INDEX relay_rebuilds_open ON relay_rebuilds (relay) WHERE completed_at IS NULL;
