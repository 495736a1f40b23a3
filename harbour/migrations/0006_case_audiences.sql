-- Who follows each case, as this service knows it: the facts that decide which audiences receive a milestone
-- (harbour.milestones). In every service's database; fed inline from the service's own events and by the
-- "<service>.case-audiences" consumers from the others'. Organisation ids and reference numbers only: no
-- personal data (a referrer's or prosecutor's file number is an office's reference, not a person's).
CREATE TABLE case_audiences (
    -- The key the events of the case carry: a referral's id before admission, the case id after.
    case_key                text PRIMARY KEY,
    -- The referral the case came from: every audience's case reference is computed from it, so a referrer
    -- sees one reference from "referral received" to the verdict. NULL until intake's facts arrive, which
    -- is how the relay tells "not known yet" (wait) from "known, no such audience" (publish).
    root_id                 text,
    owning_centre           text,
    owning_centre_since     date,
    referring_org           text,
    referrer_file_number    text,
    prosecution_office      text,
    prosecution_file_number text,
    minor                   boolean     NOT NULL DEFAULT false,
    immigration_involved    boolean     NOT NULL DEFAULT false,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
