"""The schema on a ClickHouse cluster: the same migrations, rewritten for shards and replicas.

With ``LLMHUB_CLICKHOUSE_CLUSTER=<name>`` every table of a migration becomes two:

- ``<table>_local`` on every node (``ON CLUSTER``), ``Replicated*MergeTree`` with the
  ``{shard}``/``{replica}`` macros of each server, the same columns, keys and settings
  (``non_replicated_deduplication_window`` becomes ``replicated_deduplication_window``);
- ``<table>`` a ``Distributed`` table over them, sharded by the first column of the sort key
  (``client_id`` for events, rollup, clients, webhooks; ``key_id`` for API keys). The code
  keeps reading and writing ``<table>``, so nothing else changes.

Materialized views are created on every shard from ``<source>_local`` into ``<target>_local``:
each shard rolls up its own events, and because events and rollup are sharded by the same key,
one client's raw rows and rollup rows live on the same shard. Statements this module does not
know raise, so a new kind of migration cannot silently skip the cluster (the test renders every
migration).
"""

from __future__ import annotations

import re

from storage.clickhouse.migrate import Migration

ZK_PREFIX = "/clickhouse/tables/{shard}"

_CREATE_TABLE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)\s*(\(.*?\))\s*ENGINE\s*=\s*(\w+)(\((.*?)\))?(.*)$",
    re.S,
)
_ORDER_BY = re.compile(r"ORDER BY\s*\(?\s*(\w+)")
_CREATE_MV = re.compile(
    r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+)\s+TO\s+(\w+)\.(\w+)\s+AS\s+(.*)$", re.S
)
_ALTER = re.compile(r"^ALTER TABLE (\w+)\.(\w+)\s+(.*)$", re.S)
_INSERT_SELECT = re.compile(r"^INSERT INTO \w+\.\w+\s+SELECT", re.S)
_ENGINES = {"MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree"}


class ClusterDDLError(ValueError):
    """A migration statement that has no cluster form yet."""


def _replicated(engine: str, args: str | None, db: str, table: str) -> str:
    path = f"'{ZK_PREFIX}/{db}/{table}'"
    params = [path, "'{replica}'"] + ([args] if args else [])
    return f"Replicated{engine}({', '.join(params)})"


def cluster_statements(statements: list[str], cluster: str) -> list[str]:
    """The cluster form of one migration's statements (``{db}`` already substituted)."""
    out: list[str] = []
    local_of: dict[str, str] = {}
    for statement in statements:
        s = statement.strip()
        if m := _CREATE_TABLE.match(s):
            db, table, columns, engine, _, args, rest = m.groups()
            if engine not in _ENGINES:
                raise ClusterDDLError(f"{table}: no replicated form for engine {engine}")
            local = f"{table}_local"
            rest = rest.replace(
                "non_replicated_deduplication_window", "replicated_deduplication_window"
            )
            out.append(
                f"CREATE TABLE IF NOT EXISTS {db}.{local} ON CLUSTER {cluster} {columns}\n"
                f"ENGINE = {_replicated(engine, args, db, local)}{rest}"
            )
            key = _ORDER_BY.search(rest)
            if key is None:
                raise ClusterDDLError(f"{table}: no ORDER BY to shard by")
            out.append(
                f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{local}\n"
                f"ENGINE = Distributed({cluster}, {db}, {local}, cityHash64({key.group(1)}))"
            )
            local_of[f"{db}.{table}"] = f"{db}.{local}"
        elif m := _CREATE_MV.match(s):
            db, view, tdb, target, select = m.groups()
            # Each shard's view reads the inserts of its own local source table.
            select = re.sub(r"FROM (\w+)\.(\w+)", r"FROM \1.\2_local", select)
            out.append(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{view} ON CLUSTER {cluster} "
                f"TO {tdb}.{target}_local AS {select}"
            )
        elif m := _ALTER.match(s):
            db, table, change = m.groups()
            # Columns live in both tables; the Distributed one only mirrors them.
            out.append(f"ALTER TABLE {db}.{table}_local ON CLUSTER {cluster} {change}")
            if re.match(r"(ADD|DROP|MODIFY|RENAME) COLUMN", change):
                out.append(f"ALTER TABLE {db}.{table} ON CLUSTER {cluster} {change}")
        elif _INSERT_SELECT.match(s):
            # Backfills go through the Distributed tables, which route rows by the shard key.
            out.append(s)
        else:
            raise ClusterDDLError(f"no cluster form for: {s[:80]}")
    return out


def render(migration: Migration, database: str, dedup_window: int, cluster: str) -> list[str]:
    return cluster_statements(migration.statements(database, dedup_window), cluster)


def bootstrap_statements(database: str, cluster: str) -> list[str]:
    """The database and the migrations ledger, on every node (the ledger is one replica set
    across the whole cluster: migrations run once, from whichever node runs them first)."""
    return [
        f"CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {cluster}",
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations ON CLUSTER {cluster} "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        f"ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/schema_migrations', "
        "'{replica}') ORDER BY version",
    ]
