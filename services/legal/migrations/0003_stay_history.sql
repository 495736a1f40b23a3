-- The residence file's history of validity periods (projection legal_stay_periods, rebuilt from the residence
-- stream): answers "has this person a valid stay on day D?" for any D, and counts the persons without one.

-- One row per first issue or renewal, in decision order (seq); until = the last day it covered (its ends_on,
-- or the eve of the next period when a later document replaced it early); NULL ends_on/until: unlimited.
CREATE TABLE legal_stay_periods (
    case_id        text    NOT NULL,
    seq            integer NOT NULL,
    document       text    NOT NULL,
    decided_on     date    NOT NULL,
    starts_on      date    NOT NULL,
    ends_on        date,
    renewal_number integer NOT NULL DEFAULT 0,
    until          date,
    PRIMARY KEY (case_id, seq)
);
-- The gauge's question: which case has a period covering today.
CREATE INDEX legal_stay_periods_cover ON legal_stay_periods (starts_on, until);
