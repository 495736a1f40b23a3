-- The feeds store: every milestone of every audience, numbered per audience by a gap-free cursor.

-- Per audience, the last cursor handed out. Storing a milestone locks this row until its transaction ends,
-- so one audience's milestones commit one after the other in cursor order. A plain sequence would let
-- cursor 8 commit before cursor 7: a reader that saw 8 and then asks for "after 8" would never see 7.
-- A rolled-back store rolls its increment back too, so cursors have no gaps and are never reused.
CREATE TABLE feed_heads (
    audience    text   PRIMARY KEY,
    last_cursor bigint NOT NULL CHECK (last_cursor >= 0)
);

CREATE TABLE feed_milestones (
    audience     text        NOT NULL,
    seq          bigint      NOT NULL CHECK (seq > 0),   -- the cursor
    milestone_id uuid        NOT NULL,
    milestone    jsonb       NOT NULL,                   -- as received, valid against schemas.milestones
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (audience, seq),
    -- A redelivered milestone (same id) adds nothing, even if the inbox were bypassed.
    UNIQUE (audience, milestone_id)
);
