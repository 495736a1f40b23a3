-- The event store: the only source of truth of a service, and its outbox.
--
-- Global order: readers follow (tx_id, global_position). tx_id is the appending transaction's id; a reader
-- only reads rows whose tx_id is below the oldest transaction still running (pg_snapshot_xmin), so a row
-- can never become visible behind a reader's checkpoint. A bigserial alone would let a reader skip an event
-- whose sequence value was taken before, but committed after, the one it has already read.
CREATE TABLE events (
    global_position bigserial PRIMARY KEY,
    tx_id           bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_type     text        NOT NULL,
    stream_version  integer     NOT NULL CHECK (stream_version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    payload         jsonb       NOT NULL,
    case_id         text        NOT NULL,
    jurisdiction    text        NOT NULL DEFAULT 'BE',
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_org       text,
    actor_role      text,
    actor_user      text,
    correlation_id  uuid,
    causation_id    uuid,
    traceparent     text,
    -- The backstop of optimistic concurrency: two writers can never both store version N of a stream.
    UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_commit_order ON events (tx_id, global_position);
CREATE INDEX events_case ON events (case_id);

-- Append in one statement (one round trip; atomic even outside an explicit transaction).
--
-- Per-stream order: the advisory lock is taken before this transaction writes anything, so the transaction
-- id (assigned at the first write) of a later append to the same stream is always greater than that of the
-- earlier one, and (tx_id, global_position) order never puts version N+1 before version N. If the caller's
-- transaction already wrote elsewhere before appending (it already holds an older id), the append refuses
-- when the stream moved on under a newer id (HB40R): the caller retries the whole transaction.
CREATE FUNCTION harbour_append(
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
    -- Wakes the relay and projections at commit (notifications are delivered only if we commit).
    PERFORM pg_notify('harbour_events', '');
END;
$$;
