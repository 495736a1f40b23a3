-- The append wakes whichever relays a database has: the sleep slots are rows of a table, not numbers in the function.
--
-- 0007 had harbour_append look at slots 1 and 2 by number (a service's domain relay and its milestone relay): a
-- third relay, or a relay given another slot, would sleep through every append that did not notify. Now each relay
-- registers its slot at start (harbour_register_sleep_slot), and the append takes every registered slot shared,
-- as 0007 did with the two: no NOTIFY while no registered relay sleeps (group commit, see 0007's header).
--
-- A relay that registers must never miss an append that read the table before its row was there. The table is
-- guarded by slot 0 of the same lock class: an append takes it shared (try: it never waits) before it reads the
-- slots, and holds it until it commits; a registration takes it exclusively around its insert, so it waits until
-- every append that may have read the table without the new row has committed, and only then does the relay read
-- the store and lie down (it finds those appends). An append that cannot have slot 0 (a registration is in
-- progress) notifies, as 0007 did when a slot was taken. An append that has slot 0 reads the table in a statement
-- of its own, so under READ COMMITTED it sees every registration that finished before it.
--
-- Slots 1 and 2 are registered here, so a relay of a version before this one (which does not register) is still
-- woken. A slot stays registered when its relay goes away: an append then takes one shared lock nobody holds.
CREATE TABLE harbour_sleep_slots (
    slot          integer PRIMARY KEY CHECK (slot > 0),  -- slot 0 guards the table itself
    relay         text NOT NULL,  -- the relay that registered it first, for whoever reads the table
    registered_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO harbour_sleep_slots (slot, relay) VALUES (1, 'the domain relay'), (2, 'the milestone relay');

CREATE FUNCTION harbour_register_sleep_slot(p_slot integer, p_relay text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- Registered already (every start but the first): nothing to wait for.
    IF EXISTS (SELECT 1 FROM harbour_sleep_slots WHERE slot = p_slot) THEN
        RETURN;
    END IF;
    -- Waits for the appends in flight (they hold slot 0 shared until they commit); until this transaction
    -- commits, new appends cannot have slot 0 and notify.
    PERFORM pg_advisory_xact_lock(18498, 0);
    INSERT INTO harbour_sleep_slots (slot, relay) VALUES (p_slot, p_relay) ON CONFLICT (slot) DO NOTHING;
END;
$$;

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
    v_all_awake boolean;
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
    -- will read again before it sleeps, so no notification is owed to it; see the header and 0007's.
    v_all_awake := pg_try_advisory_xact_lock_shared(18498, 0);
    IF v_all_awake THEN
        -- A statement of its own, run once slot 0 is held: it sees every slot whose registration finished.
        SELECT coalesce(bool_and(pg_try_advisory_xact_lock_shared(18498, s.slot)), true) INTO v_all_awake
          FROM harbour_sleep_slots s;
    END IF;
    IF NOT v_all_awake THEN
        PERFORM pg_notify('harbour_events', '');
    END IF;
END;
$$;
