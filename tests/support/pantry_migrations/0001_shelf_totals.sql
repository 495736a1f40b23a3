-- The pantry's read model (test only): how much of each item each shelf holds, kept inline.
CREATE TABLE shelf_totals (
    shelf_id     text    NOT NULL,
    item         text    NOT NULL,
    total        bigint  NOT NULL,
    last_version integer NOT NULL,
    PRIMARY KEY (shelf_id, item)
);
