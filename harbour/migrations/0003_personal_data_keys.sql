-- One key per person (crypto-shredding): the 256-bit AES-GCM key that seals every identifying field of that
-- person, stored only wrapped (AES-GCM) by the service's master key, whose version is kept so that the master
-- key can be rotated by re-wrapping every row.
--
-- Erasure wipes the key columns and sets erased_at; the row stays as a tombstone. Keeping the row (rather than
-- deleting it and writing a tombstone elsewhere) makes the primary key the one point where a concurrent
-- "create this person's first key" and "erase this person" meet: whichever comes second waits on the first
-- and then sees it, so an erased person can never get a fresh key behind the erasure's back.
CREATE TABLE person_keys (
    person_id          text        PRIMARY KEY,
    key_version        integer     NOT NULL DEFAULT 1,
    -- nonce (12 bytes) || AES-GCM(master key, person key, aad = "harbour.person-key:<person>:<key_version>")
    wrapped_key        bytea,
    master_key_version integer,
    created_at         timestamptz NOT NULL DEFAULT now(),
    rewrapped_at       timestamptz,
    erased_at          timestamptz,
    -- A live row has a key; a tombstone has none. Never both, never neither.
    CONSTRAINT person_keys_live_or_erased CHECK (
        (erased_at IS NULL AND wrapped_key IS NOT NULL AND master_key_version IS NOT NULL)
        OR (erased_at IS NOT NULL AND wrapped_key IS NULL AND master_key_version IS NULL)
    )
);

-- Rotation looks for the keys still wrapped by an older master key.
CREATE INDEX person_keys_master_version ON person_keys (master_key_version) WHERE erased_at IS NULL;
