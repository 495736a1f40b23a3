-- Read models of the tracks service (inline projections, rebuilt from the event store by `harbour rebuild`)
-- and one table of the handlers' own: facts reported before the track they concern was opened.

-- One row per track: what a caseload lists. ``centre`` is the owning centre now (it moves on a transfer).
CREATE TABLE track_summary (
    case_id             text PRIMARY KEY,
    person_id           text    NOT NULL,
    centre              text    NOT NULL,
    caseworker_id       text    NOT NULL,
    phase               text    NOT NULL,
    closed              boolean NOT NULL DEFAULT false,
    closure_reason      text,
    opened_on           date    NOT NULL,
    next_review_due     date,
    -- set by PlanReviewOverdue (the timer), cleared by the next review, a closure or a reopening
    review_overdue_since date,
    pending_transfer_to text,
    proceedings_concluded boolean NOT NULL DEFAULT false,
    residence_settled   boolean NOT NULL DEFAULT false,
    housing_secured     boolean NOT NULL DEFAULT false,
    legal_status        text,
    version             integer NOT NULL
);
CREATE INDEX track_summary_caseload ON track_summary (centre, caseworker_id) WHERE NOT closed;
CREATE INDEX track_summary_incoming ON track_summary (pending_transfer_to) WHERE pending_transfer_to IS NOT NULL;

-- The plan's goals, for "goals by area" (no words: those stay sealed in the events).
CREATE TABLE track_goals (
    case_id     text    NOT NULL,
    goal_id     text    NOT NULL,
    area        text    NOT NULL,
    status      text    NOT NULL,
    target_date date    NOT NULL,
    flagged     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (case_id, goal_id)
);

-- One person's track, event by event, without personal data: access is decided per row by the stream
-- version (a former owner reads only the versions of its own period).
CREATE TABLE track_timeline (
    case_id     text        NOT NULL,
    version     integer     NOT NULL,
    event_id    uuid        NOT NULL,
    event_type  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor_org   text,
    facts       jsonb       NOT NULL,
    PRIMARY KEY (case_id, version)
);

-- Not a read model: legal and housing facts that arrived before intake's CaseOpened (different topics, so
-- no order between them). Written in the consumer's inbox transaction; applied and deleted when the track opens.
CREATE TABLE parked_facts (
    event_id   uuid        NOT NULL,  -- the upstream event (one event may report two facts)
    fact       text        NOT NULL,
    case_id    text        NOT NULL,
    noted_on   date        NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, fact)
);
CREATE INDEX parked_facts_case ON parked_facts (case_id);
