-- Storing a milestone in one round trip (services/feeds/projections.py `store`): the same five steps the handler
-- ran one statement at a time, in the same order, now in one call. A PL/pgSQL function that is VOLATILE (the
-- default) takes a fresh snapshot for each statement under READ COMMITTED, so the duplicate check that follows
-- the row lock still sees a copy committed while this store waited for the lock, as it did before.
CREATE FUNCTION feeds_store_milestone(p_audience text, p_milestone_id uuid, p_milestone jsonb, p_topic text,
                                      p_partition integer, p_offset bigint, p_channel text)
    RETURNS bigint
    LANGUAGE plpgsql
AS $$
DECLARE
    head bigint;
BEGIN
    INSERT INTO feed_heads (audience, last_cursor) VALUES (p_audience, 0) ON CONFLICT DO NOTHING;
    -- The row lock serialises every store of this audience until commit (0001): cursors commit in order.
    SELECT last_cursor INTO head FROM feed_heads WHERE audience = p_audience FOR UPDATE;
    PERFORM 1 FROM feed_milestones WHERE audience = p_audience AND milestone_id = p_milestone_id;
    IF FOUND THEN
        RETURN NULL;  -- a concurrent duplicate committed first: it adds nothing and takes no cursor
    END IF;
    INSERT INTO feed_milestones (audience, seq, milestone_id, milestone, topic, partition, "offset")
    VALUES (p_audience, head + 1, p_milestone_id, p_milestone, p_topic, p_partition, p_offset);
    UPDATE feed_heads SET last_cursor = head + 1 WHERE audience = p_audience;
    -- Delivered at commit, never before: a woken stream always finds the row.
    PERFORM pg_notify(p_channel, p_audience);
    RETURN head + 1;
END
$$;
