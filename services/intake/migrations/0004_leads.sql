-- Issue 17: tips from the public (signals' TipSubmitted) as leads for the recognised centre of their region.
-- Routing facts only, no free text: what the tipster wrote (and the municipality they typed) stays in the signals
-- service (docs/tips.md).
CREATE TABLE leads (
    lead_id text PRIMARY KEY,
    position bigint NOT NULL,           -- the store's order: the list's cursor
    version integer NOT NULL,           -- a client sends it back as expected_version (409 when stale)
    centre text NOT NULL,
    region text NOT NULL,
    postcode text NOT NULL,
    seen_on date,
    exploitation_types text[] NOT NULL,
    signal_ids text[] NOT NULL,
    catalogue_version text NOT NULL,
    submitted_on date NOT NULL,
    received_on date NOT NULL,
    status text NOT NULL CHECK (status IN ('open', 'taken-up', 'closed')),
    referral_id text,
    close_reason text,
    decided_on date
);
-- The centre's list: its open leads (or all of them) in the order they arrived.
CREATE INDEX leads_by_centre ON leads (centre, status, position);
CREATE INDEX leads_by_centre_all ON leads (centre, position);
