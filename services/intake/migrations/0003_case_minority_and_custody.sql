-- Issue 13: minority is a case fact of a kind (unaccompanied / accompanied), and custody decides who holds a case.
--
-- Every minor recorded before knew one kind only: CaseOpened.minor and MinorFlagged meant an unaccompanied minor.
ALTER TABLE centre_cases ADD COLUMN minority text CHECK (minority IN ('unaccompanied', 'accompanied'));
UPDATE centre_cases SET minority = 'unaccompanied' WHERE minor;

-- The admitting centre's period of every case opened before admission recorded it (harbour/custody.py; the
-- table comes from harbour's migration 0011, which runs before the service's own). Idempotent with the
-- admission's own insert; the code falls back to the admitting centre where no row exists all the same.
INSERT INTO case_custody (case_id, seq, centre, since_on)
SELECT case_id, 0, centre, opened_on FROM centre_cases
ON CONFLICT DO NOTHING;
