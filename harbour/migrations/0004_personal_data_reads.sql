-- The read audit: every response that reveals a person's data leaves a row here, written in the same
-- transaction as the read, so that a centre manager can answer "who saw this person's data, when, and why".
-- Append-only by convention: nothing in Harbour updates or deletes these rows (erasing a person keeps them;
-- they hold the pseudonymous person id and the readers, not the data read).
CREATE TABLE personal_data_reads (
    id         bigserial   PRIMARY KEY,
    person_id  text        NOT NULL,
    org        text        NOT NULL,
    role       text        NOT NULL,
    user_id    text        NOT NULL,
    what       text        NOT NULL,
    purpose    text        NOT NULL CHECK (length(purpose) BETWEEN 1 AND 200),
    read_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The manager's listing pages through one person's reads by id.
CREATE INDEX personal_data_reads_person ON personal_data_reads (person_id, id);
