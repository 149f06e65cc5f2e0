-- Dead letters beside the dead-letter topic: what was refused, why and whose, so the admin can
-- list and count them with SQL (and a UI later) until they are replayed or discarded.
-- One row per source position (topic, partition, offset, index in a batch message); a status
-- change is a newer version of the row (ReplacingMergeTree(updated_at), read with FINAL).
CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    source_topic      String,
    source_partition  Int32,
    source_offset     Int64,
    source_index      Int32,    -- place in a batch message; -1: the message held it alone
    reason            LowCardinality(String),
    errors            String,   -- JSON list of every problem: {"loc", "msg", "type"}
    client_id         String,   -- '' when the record names none readably
    value             String,   -- the original bytes
    failed_at         DateTime64(3, 'UTC'),
    dlq_partition     Int32,    -- where the dead-letter topic holds it (-1: unknown)
    dlq_offset        Int64,
    status            Enum8('open' = 1, 'replayed' = 2, 'discarded' = 3),
    updated_at        DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (source_topic, source_partition, source_offset, source_index)
SETTINGS non_replicated_deduplication_window = {dedup_window};
