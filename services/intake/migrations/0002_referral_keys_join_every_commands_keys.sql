-- Referral submissions' Idempotency-Keys move to the platform's table of every command's keys
-- (harbour/migrations/0009_idempotent_commands.sql), which stores the answer itself.
--
-- A key recorded before held only the referral's id, not the answer sent; the answer it gets from now on is
-- the referrer's view of that referral as it stands at this migration (same referral, same Location), which is
-- what a retry got before. The fingerprint is the one these keys always had (services/intake/idempotency.py).
INSERT INTO idempotent_commands (org, key, method, path, fingerprint, status, body, location, recorded_at)
SELECT k.org, k.key, 'POST', '/referrals', k.fingerprint, 201,
       json_build_object(
           'referral_id', r.referral_id,
           'referring_organisation_id', r.referring_org,
           'referrer_file_number', r.referrer_file_number,
           'target_centre', r.target_centre,
           'region', r.region,
           'status', r.status,
           'submitted_on', r.submitted_on,
           'referrer_screening', r.referrer_screening,
           'decision', CASE WHEN r.status IN ('accepted', 'declined', 'redirected') OR r.decided_on IS NOT NULL
                            THEN json_build_object(
                                'decision', CASE WHEN r.status = 'admitted' THEN 'accepted' ELSE r.status END,
                                'decided_on', r.decided_on,
                                'decline_reason', r.decline_reason,
                                'redirected_to', r.redirected_to,
                                'redirect_reason', r.redirect_reason)
                       END,
           'taken_up', r.status = 'admitted')::text,
       '/referrals/' || k.referral_id, k.created_at
  FROM idempotency_keys k JOIN referral_status r USING (referral_id)
ON CONFLICT (org, key) DO NOTHING;

DROP TABLE idempotency_keys;
