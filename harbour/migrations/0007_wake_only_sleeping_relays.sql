-- Notify only relays that sleep.
--
-- A NOTIFY makes PostgreSQL (up to 17 at least) commit the notifying transactions one at a time: the commit
-- takes a server-wide lock held across its WAL flush, so concurrent appends lost group commit (measured:
-- 8 writers of one event per transaction, 2,900 appends/s with a NOTIFY each, 4,300 without).
--
-- A relay needs a notification only while it sleeps. Each relay of a database has a sleep slot (advisory
-- lock 18498/slot; 18498 is 'HB', slots in harbour/kafka/sleep_slot.py): it holds the slot exclusively only
-- while it sleeps. An append that can take every slot shared holds those shared locks until it commits and
-- does not notify: no relay sleeps, and none can lie down before that append has committed (the exclusive
-- lock cannot be had until then); a relay that has lain down reads the store once more, and finds the event.
-- An append that finds a slot taken notifies, as before.
CREATE OR REPLACE FUNCTION harbour_append(
    p_stream_id text, p_stream_type text, p_case_ids text[], p_expected integer, p_jurisdiction text,
    p_event_ids uuid[], p_types text[], p_schema_versions integer[], p_payloads jsonb[],
    p_occurred timestamptz[], p_actor_org text, p_actor_role text, p_actor_user text,
    p_correlation uuid, p_causation uuid, p_traceparent text
) RETURNS TABLE (o_global_position bigint, o_tx_id bigint, o_event_id uuid, o_stream_version integer,
                 o_recorded_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_current integer;
    v_last_tx bigint;
    v_own_tx  bigint;
BEGIN
    -- Serialises appends to ONE stream (hash collisions only cost a little waiting); other streams go on.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_stream_id, 0));
    SELECT e.stream_version, e.tx_id INTO v_current, v_last_tx
      FROM events e WHERE e.stream_id = p_stream_id ORDER BY e.stream_version DESC LIMIT 1;
    v_current := coalesce(v_current, 0);
    IF p_expected IS NOT NULL AND v_current <> p_expected THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', p_stream_id, v_current, p_expected
            USING ERRCODE = 'HB409', DETAIL = v_current::text;
    END IF;
    v_own_tx := pg_current_xact_id_if_assigned()::text::bigint;
    IF v_own_tx IS NOT NULL AND v_last_tx IS NOT NULL AND v_own_tx < v_last_tx THEN
        RAISE EXCEPTION 'stream % was appended by a newer transaction; retry', p_stream_id
            USING ERRCODE = 'HB40R';
    END IF;
    RETURN QUERY
    INSERT INTO events AS e (event_id, stream_id, stream_type, stream_version, event_type, schema_version,
                             payload, case_id, jurisdiction, occurred_at, actor_org, actor_role, actor_user,
                             correlation_id, causation_id, traceparent)
    SELECT n.event_id, p_stream_id, p_stream_type, v_current + n.ord::integer, n.event_type, n.schema_version,
           n.payload, n.case_id, p_jurisdiction, n.occurred_at, p_actor_org, p_actor_role, p_actor_user,
           p_correlation, p_causation, p_traceparent
      FROM unnest(p_event_ids, p_types, p_schema_versions, p_payloads, p_occurred, p_case_ids)
           WITH ORDINALITY AS n(event_id, event_type, schema_version, payload, occurred_at, case_id, ord)
     ORDER BY n.ord
    RETURNING e.global_position, e.tx_id, e.event_id, e.stream_version, e.recorded_at;
    -- Wakes the sleeping relays at commit (notifications are delivered only if we commit). An awake relay
    -- will read again before it sleeps, so no notification is owed to it; see the header.
    IF NOT (pg_try_advisory_xact_lock_shared(18498, 1) AND pg_try_advisory_xact_lock_shared(18498, 2)) THEN
        PERFORM pg_notify('harbour_events', '');
    END IF;
END;
$$;
