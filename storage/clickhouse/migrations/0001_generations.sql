-- One row per LLM call. Typed columns only: aggregates never parse JSON at query time.
-- Tenant first in the sort key so every billing query reads one client's contiguous range;
-- monthly partitions keep parts few and let old months be dropped or moved as a whole.
CREATE TABLE IF NOT EXISTS {db}.generations
(
    event_id            UUID,
    client_id           LowCardinality(String),
    occurred_at         DateTime64(3, 'UTC'),
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    provider            LowCardinality(String),
    model               LowCardinality(String),
    endpoint            LowCardinality(String),
    input_tokens        UInt32,   -- all prompt tokens, cached ones included
    output_tokens       UInt32,   -- all completion tokens, reasoning ones included
    cached_input_tokens UInt32,   -- part of input_tokens billed at the cached price
    reasoning_tokens    UInt32,   -- part of output_tokens billed at the reasoning price
    cost_usd            Decimal64(9),  -- exact; 0 when cost_source = 'unpriced'
    cost_source         Enum8('provider' = 1, 'catalog' = 2, 'unpriced' = 3),
    price_version       LowCardinality(String),  -- catalog entry used, '' unless catalog
    latency_ms          UInt32,
    success             Bool,
    status_code         UInt16,   -- 0 when the provider gave none
    error_type          LowCardinality(String),
    error_message       String,
    request_id          String,
    end_user_id         String,
    request_metadata    String,   -- JSON object, shown only in log details
    response_metadata   String,   -- JSON object, shown only in log details
    schema_version      UInt8,
    source              LowCardinality(String),  -- 'kafka' or 'import'
    source_partition    Int32,    -- Kafka partition, -1 for imports
    source_offset       Int64,    -- Kafka offset, -1 for imports
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (client_id, occurred_at, event_id)
-- A retried insert with the same insert_deduplication_token is dropped (exactly-once sink).
SETTINGS non_replicated_deduplication_window = {dedup_window};
