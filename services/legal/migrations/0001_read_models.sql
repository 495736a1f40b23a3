-- Read models of the legal service. All are inline projections of this service's own events (rebuildable).

-- The cases the service follows and who may see them: the centre guiding the case, and the prosecutor's office
-- or labour auditorate its criminal file is assigned to (NULL until it is).
CREATE TABLE legal_cases (
    case_id             text PRIMARY KEY,
    centre              text    NOT NULL,
    unaccompanied_minor boolean NOT NULL,
    eu_citizen          boolean NOT NULL,
    opened_on           date    NOT NULL,
    office              text,
    file_number         text
);
CREATE INDEX legal_cases_centre ON legal_cases (centre);
CREATE INDEX legal_cases_office ON legal_cases (office);

-- The residence status of a case: the document in force, its validity, the open request, the ending.
CREATE TABLE legal_residence_status (
    case_id              text PRIMARY KEY,
    version              integer NOT NULL,
    opened_on            date    NOT NULL,
    unaccompanied_minor  boolean NOT NULL,
    eu_citizen           boolean NOT NULL,
    document             text,
    decided_on           date,
    starts_on            date,
    ends_on              date,
    renewals             integer NOT NULL DEFAULT 0,
    request_document     text,
    request_renewal      boolean,
    requested_on         date,
    request_opinion      text,
    request_opinion_on   date,
    last_refusal         jsonb,
    expired_on           date,
    reminders_sent       integer NOT NULL DEFAULT 0,
    hearing_warnings     integer NOT NULL DEFAULT 0,
    ended_on             date,
    ending_reason        text
);

-- A summary of the criminal proceedings per case (what the centre and the competent office read).
CREATE TABLE legal_proceedings (
    case_id  text PRIMARY KEY,
    version  integer NOT NULL,
    summary  jsonb   NOT NULL
);

-- Dated deadlines per case: the last valid day of the document in force, and the hearings.
CREATE TABLE legal_deadlines (
    case_id  text NOT NULL,
    slot     text NOT NULL,  -- "document" (one per case: the document in force) or "hearing-<n>"
    kind     text NOT NULL,
    due_on   date NOT NULL,
    document text,
    court    text,
    PRIMARY KEY (case_id, slot)
);
CREATE INDEX legal_deadlines_due ON legal_deadlines (due_on);
