-- Clients (tenants) and their budgets. Rows are versioned: the newest version wins (FINAL).
CREATE TABLE IF NOT EXISTS {db}.clients
(
    client_id           String,
    name                String,
    monthly_budget_usd  Nullable(Decimal64(9)),
    alert_thresholds    Array(UInt16),   -- percent of the budget, ascending
    created_at          DateTime64(3, 'UTC'),
    updated_at          DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY client_id;

-- API keys: only a SHA-256 of the key is stored; the key itself is shown once at creation.
CREATE TABLE IF NOT EXISTS {db}.api_keys
(
    key_id      String,
    client_id   String,
    key_hash    String,
    label       String,
    created_at  DateTime64(3, 'UTC'),
    revoked_at  Nullable(DateTime64(3, 'UTC')),
    updated_at  DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY key_id;
