-- Which centre holds a case, period by period, as this service has learnt it (harbour.custody).
--
-- One row per hand-over: seq 0 is the admitting centre, seq n > 0 a transfer accepted as version n of the
-- track's stream in tracks. Rows are only ever inserted (a redelivered transfer is the same key), and periods
-- are read in seq order, so facts that reach a service out of order (a transfer consumed before the case
-- opened, the second of a chain before the first) still give one owner at every point.
CREATE TABLE case_custody (
    case_id     text        NOT NULL,
    seq         integer     NOT NULL CHECK (seq >= 0),
    centre      text        NOT NULL,
    since_on    date        NOT NULL,
    -- When this service applied the hand-over: the end of the former centre's period here. Its history is
    -- what this service recorded up to that moment.
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, seq)
);
