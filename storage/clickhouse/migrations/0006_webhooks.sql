-- Budget alert webhooks, one per client. Versioned rows: the newest wins (FINAL);
-- a removed webhook is a row with enabled = false. The secret signs deliveries, so it is kept
-- (a hash could not sign); only the admin API shows it, and only when it is set.
CREATE TABLE IF NOT EXISTS {db}.webhooks
(
    client_id   String,
    url         String,
    secret      String,
    enabled     Bool,
    updated_at  DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY client_id;

-- One row per client x month x threshold: its existence means "queued, never queue again";
-- each attempt writes a new revision (ReplacingMergeTree keeps the highest). The body is
-- fixed when queued, so every attempt, and a re-send after a crash, sends the same bytes
-- under the same delivery_id (the receiver's idempotency key).
CREATE TABLE IF NOT EXISTS {db}.webhook_deliveries
(
    client_id           String,
    month               String,          -- 'YYYY-MM' (UTC)
    threshold_percent   UInt16,
    delivery_id         UUID,
    revision            UInt32,          -- 0 when queued, +1 per attempt
    status              Enum8('pending' = 1, 'delivered' = 2, 'failed' = 3),
    attempts            UInt32,
    payload             String,          -- the JSON body sent
    url                 String,          -- where the last attempt went
    created_at          DateTime64(3, 'UTC'),
    next_attempt_at     DateTime64(3, 'UTC'),
    last_attempt_at     Nullable(DateTime64(3, 'UTC')),
    delivered_at        Nullable(DateTime64(3, 'UTC')),
    last_status_code    UInt16,          -- 0: no HTTP answer
    last_error          String
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY (client_id, month, threshold_percent);
