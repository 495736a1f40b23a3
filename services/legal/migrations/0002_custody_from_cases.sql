-- The custody of the cases legal followed before it kept custody periods (harbour.custody): each is held by the
-- centre it was registered with, since the day it was opened. Without this row the access rules would fall back
-- to legal_cases.centre anyway (services/legal/custody.holder_of); with it a transfer accepted later ends the
-- admitting centre's period like any other. Idempotent: a case admitted meanwhile keeps its row.
INSERT INTO case_custody (case_id, seq, centre, since_on)
SELECT case_id, 0, centre, opened_on FROM legal_cases
ON CONFLICT DO NOTHING;
