"""The cluster schema (LLMHUB_CLICKHOUSE_CLUSTER) renders for every migration and parses on the
real engine. No multi-node cluster (Keeper, shards, replicas) exists on this machine, so these
statements are parsed and formatted by ClickHouse's own parser here, not executed."""

from __future__ import annotations

import re

import pytest

from storage.clickhouse.cluster import ClusterDDLError, bootstrap_statements, cluster_statements
from storage.clickhouse.migrate import available
from storage.clickhouse.pool import ClickHousePool

CLUSTER = "llmhub_cluster"


def rendered() -> list[str]:
    out = bootstrap_statements("llmhub", CLUSTER)
    for migration in available():
        out += cluster_statements(migration.statements("llmhub", 10_000), CLUSTER)
    return out


def test_every_statement_parses_and_keeps_on_cluster(pool: ClickHousePool) -> None:
    for statement in rendered():
        # formatQuery parses with the server's parser (a syntax error raises) and prints it back.
        formatted = pool.query_rows("SELECT formatQuery({q:String})", {"q": statement})[0][0]
        if not statement.startswith("INSERT"):
            assert f"ON CLUSTER {CLUSTER}" in formatted, formatted
        # EXPLAIN AST goes through the same parser once more, as a query of its own.
        assert pool.query_rows(f"EXPLAIN AST {statement}")


def test_every_table_is_a_replicated_shard_behind_a_distributed_table() -> None:
    single = []
    for migration in available():
        for s in migration.statements("llmhub", 10_000):
            if m := re.match(r"CREATE TABLE IF NOT EXISTS llmhub\.(\w+)", s):
                single.append(m.group(1))
    assert {"generations", "usage_hourly", "clients", "api_keys", "webhook_deliveries"} <= set(
        single
    )
    text = "\n".join(rendered())
    for table in single:
        local = re.search(
            rf"CREATE TABLE IF NOT EXISTS llmhub\.{table}_local ON CLUSTER {CLUSTER} .*?"
            rf"ENGINE = Replicated\w*MergeTree\("
            rf"'/clickhouse/tables/{{shard}}/llmhub/{table}_local', '\{{replica\}}'",
            text,
            re.S,
        )
        assert local, table
        assert re.search(
            rf"llmhub\.{table} ON CLUSTER {CLUSTER} AS llmhub\.{table}_local\n"
            rf"ENGINE = Distributed\({CLUSTER}, llmhub, {table}_local, cityHash64\(\w+\)\)",
            text,
        ), table
    # One client's events and rollup rows land on one shard: same sharding key.
    assert "generations_local, cityHash64(client_id)" in text
    assert "usage_hourly_local, cityHash64(client_id)" in text
    # The rollup is built on each shard from that shard's own inserts.
    assert re.search(
        r"usage_hourly_mv ON CLUSTER \w+ TO llmhub\.usage_hourly_local AS .*FROM llmhub\."
        r"generations_local",
        text,
        re.S,
    )
    assert "non_replicated_deduplication_window" not in text
    assert "replicated_deduplication_window = 10000" in text


def test_unknown_statements_refuse_rather_than_skip_the_cluster() -> None:
    with pytest.raises(ClusterDDLError):
        cluster_statements(["CREATE DICTIONARY llmhub.d (a UInt8) PRIMARY KEY a"], CLUSTER)
    with pytest.raises(ClusterDDLError):
        cluster_statements(["CREATE TABLE IF NOT EXISTS llmhub.t (a UInt8) ENGINE = Log"], CLUSTER)
    altered = cluster_statements(["ALTER TABLE llmhub.generations ADD COLUMN x UInt8"], CLUSTER)
    assert altered == [
        f"ALTER TABLE llmhub.generations_local ON CLUSTER {CLUSTER} ADD COLUMN x UInt8",
        f"ALTER TABLE llmhub.generations ON CLUSTER {CLUSTER} ADD COLUMN x UInt8",
    ]
