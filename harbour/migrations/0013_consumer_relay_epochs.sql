-- The relays' rebuild epochs each consumer has read, per topic-partition (harbour.kafka.rebuild, RelayEpochs).
--
-- A relay stamps every record with its epoch: when it last had to publish its store again because the broker lost
-- what it had acknowledged (the detected_at of its newest relay_rebuilds row, in microseconds; 0 before any). A
-- consumer whose offset on a partition outlived the partition's log (a stale commit racing the rejoin, an unclean
-- leader election that kept __consumer_offsets) would go on from that offset in the log published again and skip
-- whatever landed below it. A record of an epoch above the one read before on its partition says the log was
-- published again: the consumer reads the partition again from its start (the inbox dedupes), and writes the new
-- epoch here only once it is back where it saw it, so a crash on the way reads again rather than skips.
-- Written when an epoch changes (a rebuild, the first record of a relay on a partition), never per record.
CREATE TABLE consumer_relay_epochs (
    consumer   text    NOT NULL,
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    relay      text    NOT NULL,
    epoch      bigint  NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition, relay)
);
