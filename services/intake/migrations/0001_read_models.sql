-- Intake's read models (inline projections, rebuilt from the event store) and its idempotency keys.
--
-- Personal data appear here only as sealed values (harbour.pii.Sealed as JSON) with the id of the event that
-- sealed them (the associated data needed to open them): erasing the person's key makes these rows unreadable
-- together with the events they came from.

-- What a referrer may know of its own referrals, and what the addressed centre works from.
CREATE TABLE referral_status (
    referral_id          text    PRIMARY KEY,
    version              integer NOT NULL,           -- the stream's version, for expected_version checks
    referring_org        text    NOT NULL,
    referrer_file_number text,
    target_centre        text    NOT NULL,
    region               text    NOT NULL,
    status               text    NOT NULL,
    submitted_on         date    NOT NULL,
    referrer_screening   jsonb   NOT NULL,           -- of the referrer's own checklist
    screening            jsonb   NOT NULL,           -- the centre's, once it screened
    screened             boolean NOT NULL DEFAULT false,
    signal_ids           text[]  NOT NULL,
    exploitation_types   text[]  NOT NULL,
    urgency              text[]  NOT NULL,
    decided_on           date,
    decline_reason       text,
    redirected_to        text,
    redirect_reason      text,
    interviews           integer NOT NULL DEFAULT 0,
    last_interview_on    date,
    consents             text[]  NOT NULL DEFAULT '{}',
    minor                boolean NOT NULL DEFAULT false,
    person_id            text,
    case_id              text,
    opened_on            date
);
CREATE INDEX referral_status_referrer ON referral_status (referring_org);
CREATE INDEX referral_status_centre ON referral_status (target_centre);

-- A centre's cases. Paged by the global position of CaseOpened: stable, and the same after a rebuild.
CREATE TABLE centre_cases (
    case_id              text    PRIMARY KEY,
    position             bigint  NOT NULL,
    centre               text    NOT NULL,
    referral_id          text    NOT NULL,
    person_id            text    NOT NULL,
    opened_on            date    NOT NULL,
    minor                boolean NOT NULL,
    eu_citizen           boolean NOT NULL,
    exploitation_types   text[]  NOT NULL,
    urgency              text[]  NOT NULL,
    region               text    NOT NULL,
    referring_org        text    NOT NULL,
    consents             text[]  NOT NULL DEFAULT '{}',
    person_erased_on     date
);
CREATE INDEX centre_cases_page ON centre_cases (centre, position);

-- Whose centre may read a person's identity, and whether the person was erased.
CREATE TABLE persons (
    person_id   text PRIMARY KEY,
    referral_id text NOT NULL,
    centre      text NOT NULL,
    case_id     text,
    erased_on   date
);

-- The latest sealed value of each identity field (and the referrer's circumstances) of a person.
CREATE TABLE person_fields (
    person_id   text  NOT NULL,
    field       text  NOT NULL,
    sealed      jsonb NOT NULL,
    event_id    uuid  NOT NULL,   -- the associated data the value was sealed with
    captured_on date  NOT NULL,
    PRIMARY KEY (person_id, field)
);

-- Idempotency-Key of referral submissions: command-side state, written in the submission's transaction (so a
-- retried request sees either nothing or the committed referral), and not a read model (never rebuilt).
-- The fingerprint covers only the request's non-personal facts: a hash of a name would be personal data
-- that outlives the person's erasure (names are easy to guess and re-hash).
CREATE TABLE idempotency_keys (
    org         text        NOT NULL,
    key         text        NOT NULL,
    fingerprint text        NOT NULL,
    referral_id text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, key)
);
