-- Hourly rollup that the usage endpoints read instead of raw rows: one row per
-- client x hour x provider x model x endpoint x success. SummingMergeTree folds rows with the
-- same key on merge; readers still GROUP BY and sum(), so unmerged parts never matter.
CREATE TABLE IF NOT EXISTS {db}.usage_hourly
(
    client_id           LowCardinality(String),
    hour                DateTime('UTC'),
    provider            LowCardinality(String),
    model               LowCardinality(String),
    endpoint            LowCardinality(String),
    success             Bool,
    calls               UInt64,
    successes           UInt64,
    unpriced_calls      UInt64,
    cost_usd            Decimal(38, 9),
    input_tokens        UInt64,
    output_tokens       UInt64,
    cached_input_tokens UInt64,
    reasoning_tokens    UInt64,
    latency_ms_sum      UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (client_id, hour, provider, model, endpoint, success)
-- Its own dedup window: a retried insert that generations drops must not reach this table
-- twice either (deduplicate_blocks_in_dependent_materialized_views is set on inserts).
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.usage_hourly_mv TO {db}.usage_hourly AS
SELECT
    client_id,
    toStartOfHour(occurred_at) AS hour,
    provider,
    model,
    endpoint,
    success,
    count() AS calls,
    countIf(success) AS successes,
    countIf(cost_source = 'unpriced') AS unpriced_calls,
    sum(toDecimal128(cost_usd, 9)) AS cost_usd,
    sum(toUInt64(input_tokens)) AS input_tokens,
    sum(toUInt64(output_tokens)) AS output_tokens,
    sum(toUInt64(cached_input_tokens)) AS cached_input_tokens,
    sum(toUInt64(reasoning_tokens)) AS reasoning_tokens,
    sum(toUInt64(latency_ms)) AS latency_ms_sum
FROM {db}.generations
GROUP BY client_id, hour, provider, model, endpoint, success;

-- Rows stored before this migration (migrations run at start-up, before the sink consumes);
-- skipped if the rollup already has rows, so re-running an interrupted migration is safe.
INSERT INTO {db}.usage_hourly
SELECT
    client_id,
    toStartOfHour(occurred_at) AS hour,
    provider,
    model,
    endpoint,
    success,
    count(),
    countIf(success),
    countIf(cost_source = 'unpriced'),
    sum(toDecimal128(cost_usd, 9)),
    sum(toUInt64(input_tokens)),
    sum(toUInt64(output_tokens)),
    sum(toUInt64(cached_input_tokens)),
    sum(toUInt64(reasoning_tokens)),
    sum(toUInt64(latency_ms))
FROM {db}.generations
WHERE (SELECT count() FROM {db}.usage_hourly) = 0
GROUP BY client_id, hour, provider, model, endpoint, success;
