-- Where a reader of the store's global order stops: below every transaction that may still add events here.
--
-- Until now readers stopped below pg_snapshot_xmin, the oldest transaction running on the whole *server*. A
-- transaction of another database can never write this one's events, yet one held open there (a projection
-- rebuilt in one transaction, a bulk import, a bench filling a store) held back every relay on the server for as
-- long as it ran: measured 2026-12-03, relays 2.5 s behind at 15 commands/s while another database's store was
-- being filled. Now a transaction still running at the statement's snapshot is passed over when it is known to
-- belong to another database: pg_stat_activity shows a backend of another database holding that transaction id.
-- Anything not known so (a backend whose activity this role may not read, a prepared transaction, one that ended
-- between the snapshot and the look) still holds readers back, as before. Safe because transaction ids are
-- unique on the server and a backend never changes database: a running id seen on another database's backend
-- is that database's. The reader's own transaction, once it has an id, bounds it too (its rows are not committed).
-- STABLE, so it runs under the calling statement's snapshot, which is the one pg_current_snapshot() describes.
CREATE FUNCTION harbour_read_bound() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT least(
        coalesce(
            (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
              WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                 WHERE a.backend_xid = ((x::text::bigint) % 4294967296)::text::xid
                                   AND a.datname <> current_database())),
            pg_snapshot_xmax(pg_current_snapshot())::text::bigint),
        coalesce(pg_current_xact_id_if_assigned()::text::bigint, 9223372036854775807))
$$;
