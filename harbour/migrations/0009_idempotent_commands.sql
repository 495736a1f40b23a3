-- Idempotency-Key of every command (harbour/idempotency.py): the answer each committed command was given,
-- recorded in the command's own transaction, so that a retry with the same key gets that answer again and
-- changes nothing. Command-side state, not a read model: never rebuilt, never replayed.
--
-- Keys are per calling organisation. method, path and fingerprint tell a retry from another request sent with
-- the same key (a 422). The fingerprint is a digest of the body without its personal values (a hash of a name
-- would be personal data outliving the person's erasure); body is the response as sent, which for every
-- command of the platform holds ids, dates, states and closed lists only (see the README).
CREATE TABLE idempotent_commands (
    org          text        NOT NULL,
    key          text        NOT NULL,
    method       text        NOT NULL,
    path         text        NOT NULL,
    fingerprint  text        NOT NULL,
    status       smallint    NOT NULL,
    body         text,                      -- NULL for a 204
    location     text,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, key)
);
