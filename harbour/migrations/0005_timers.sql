-- Durable timers: deadlines (reminders, expiries, hearing warnings) that must fire exactly once, across
-- restarts, in one process per service. A timer fires in the same transaction that marks it fired, so a
-- crash mid-handler leaves it unfired and it fires again later.
CREATE TABLE timers (
    -- Chosen by the scheduler (e.g. "<case>:attestation:<doc>:reminder-14"), so scheduling is idempotent and
    -- a whole family can be cancelled by prefix. "C" collation lets the primary key serve prefix (LIKE 'x%')
    -- scans.
    key             text COLLATE "C" PRIMARY KEY,
    kind            text        NOT NULL,
    case_id         text        NOT NULL,
    -- The legal moment the timer stands for; handlers may use it. Never moved by retries.
    due_at          timestamptz NOT NULL,
    payload         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    scheduled_at    timestamptz NOT NULL DEFAULT now(),
    -- When the runner may next try: due_at at first, later after a failed attempt (backoff).
    next_attempt_at timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    fired_at        timestamptz,
    cancelled_at    timestamptz,
    CONSTRAINT timers_fired_or_cancelled CHECK (fired_at IS NULL OR cancelled_at IS NULL)
);

-- The runner's claim query and the due-timers metric read only pending timers.
CREATE INDEX timers_pending ON timers (next_attempt_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;
CREATE INDEX timers_case ON timers (case_id);
