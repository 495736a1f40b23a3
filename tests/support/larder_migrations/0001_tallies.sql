-- The larder's effect: how much of each item it has counted. Exactly-once consumption keeps it exact.
CREATE TABLE tallies (
    shelf_id text NOT NULL,
    item     text NOT NULL,
    total    bigint NOT NULL,
    PRIMARY KEY (shelf_id, item)
);
