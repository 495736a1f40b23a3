-- Housing's own tables. Two kinds, kept apart on purpose:
--   * state that no event may carry (shelter addresses) or that comes from other services (case ownership):
--     written by commands and handlers, never truncated by a rebuild;
--   * read models (housing_*): projections of housing's own events, emptied and refilled by `harbour rebuild`.

-- The secret address of each shelter. It exists here and nowhere else: in no event, topic, log or span.
-- Read only through GET /housing/shelters/{id}/address, by the owning centre's housing staff, each read audited.
CREATE TABLE shelter_addresses (
    shelter_id  text PRIMARY KEY,
    centre      text NOT NULL,
    address     text NOT NULL
);

-- Which centre follows a case and whose person it is, from intake's CaseOpened (and tracks' transfers).
-- Housing answers 404 for a case it does not know, as for another centre's case.
CREATE TABLE case_registry (
    case_id     text PRIMARY KEY,
    person_id   text NOT NULL,
    centre      text NOT NULL,
    opened_on   date NOT NULL
);
CREATE INDEX case_registry_person ON case_registry (person_id);

-- Read model: shelters and their beds (current state).
CREATE TABLE housing_shelters (
    shelter_id  text PRIMARY KEY,
    centre      text NOT NULL,
    name        text NOT NULL
);

CREATE TABLE housing_beds (
    shelter_id  text NOT NULL,
    bed_id      text NOT NULL,
    centre      text NOT NULL,
    constraints text[] NOT NULL,
    in_service  boolean NOT NULL DEFAULT true,
    occupant    text,            -- case id
    since       date,
    PRIMARY KEY (shelter_id, bed_id)
);
CREATE INDEX housing_beds_occupant ON housing_beds (occupant) WHERE occupant IS NOT NULL;

-- Read model: every placement request and where it stands (the waiting list is status = 'waiting').
CREATE TABLE housing_requests (
    request_id   text PRIMARY KEY,
    network      text NOT NULL,   -- the centre whose beds are asked for
    from_centre  text NOT NULL,   -- the centre following the case (= network unless cross-centre)
    case_id      text NOT NULL,
    needs        text[] NOT NULL,
    urgency      text NOT NULL,
    urgency_rank integer NOT NULL,
    requested_at timestamptz NOT NULL,
    seq          bigint NOT NULL, -- store position: breaks ties of equal times as the aggregate does
    status       text NOT NULL,   -- new | awaiting-acceptance | waiting | assigned | declined | withdrawn
    shelter_id   text,
    bed_id       text,
    closed_on    date
);
CREATE INDEX housing_requests_open ON housing_requests (network, status);
CREATE INDEX housing_requests_case ON housing_requests (case_id);

-- Read model: occupancy over time, one row per shelter and Brussels calendar day on which something
-- changed, holding the state at the end of that day as recorded (days without a row carry the last one).
CREATE TABLE housing_occupancy_daily (
    shelter_id  text NOT NULL,
    day         date NOT NULL,
    centre      text NOT NULL,
    beds        integer NOT NULL,
    in_service  integer NOT NULL,
    occupied    integer NOT NULL,
    PRIMARY KEY (shelter_id, day)
);
