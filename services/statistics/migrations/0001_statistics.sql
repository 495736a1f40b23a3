-- The de-identified fact table: one row per case, keyed by an HMAC of the case id (never the id itself), holding
-- coarse attributes only (services/statistics/facts.py). ``revision`` numbers every change, so a release can say
-- which state of the table it was built from.
CREATE SEQUENCE statistics_fact_revision;

CREATE TABLE statistics_facts (
    fact_key bytea PRIMARY KEY,
    fact jsonb NOT NULL,
    year int,  -- of admission; NULL until intake's CaseOpened arrived
    revision bigint NOT NULL
);
CREATE INDEX statistics_facts_year ON statistics_facts (year);

-- Every release as recorded in the store (the StatisticsReleased event), for the API and the report page.
CREATE TABLE statistics_releases (
    seq bigint PRIMARY KEY,  -- the event's global position: the release list's order and cursor
    release_id text NOT NULL UNIQUE,
    period int NOT NULL,
    version int NOT NULL,
    public boolean NOT NULL,
    release jsonb NOT NULL,
    UNIQUE (period, version)
);
