-- Erasing a person (or re-wrapping their key under a new master key) is an UPDATE of their person_keys row, and
-- PostgreSQL keeps the row version it replaced, wrapped key included, in the table's pages until the page is
-- rewritten. With the master key, that dead copy opens every value of an "erased" person (observed: 9 of 9).
--
-- Each transaction that leaves such a copy behind records itself here, in the same transaction; the purge
-- (harbour.pii.purge_dead_key_copies) rewrites person_keys once no snapshot can see the copies any more, and
-- only then marks the requests purged. A request is never lost: a process that dies between the erasure and
-- the purge leaves it pending, and the next purge (another erasure, `harbour keys purge`) takes it.
--
-- No person id here: the request names a transaction, not whom it erased.
CREATE TABLE person_key_purges (
    xid          xid8        PRIMARY KEY,  -- pg_current_xact_id() of the erasing / re-wrapping transaction
    reason       text        NOT NULL CHECK (reason IN ('erasure', 'rotation')),
    requested_at timestamptz NOT NULL DEFAULT now(),
    purged_at    timestamptz
);

CREATE INDEX person_key_purges_pending ON person_key_purges (xid) WHERE purged_at IS NULL;
