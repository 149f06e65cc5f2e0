"""Versioned, idempotent schema migrations, applied at start-up.

Each ``migrations/NNNN_name.sql`` file runs once per database, in order; applied versions are
recorded in ``schema_migrations``. Statements use ``IF NOT EXISTS`` so a migration interrupted
half-way can simply run again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources

from storage.clickhouse.pool import ClickHousePool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self, database: str, dedup_window: int) -> list[str]:
        text = self.sql.replace("{db}", database).replace("{dedup_window}", str(dedup_window))
        # Drop "--" comments (our SQL has no "--" inside strings) so a ";" in one is harmless.
        lines = [ln.split("--", 1)[0] for ln in text.splitlines()]
        return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def available() -> list[Migration]:
    """All migrations shipped with the package, ordered by version."""
    found = []
    for entry in resources.files("storage.clickhouse").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append(Migration(version, entry.name[:-4], entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def migrate(pool: ClickHousePool) -> list[str]:
    """Create the database if needed and apply pending migrations; return the names applied."""
    db = pool.database
    cluster = pool.settings.cluster
    if cluster:
        from storage.clickhouse.cluster import bootstrap_statements

        for statement in bootstrap_statements(db, cluster):
            pool.command(statement)
    else:
        pool.command(f"CREATE DATABASE IF NOT EXISTS {db}")
        pool.command(
            f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations "
            "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            "ENGINE = MergeTree ORDER BY version"
        )
    done = {row[0] for row in pool.query_rows(f"SELECT version FROM {db}.schema_migrations")}
    applied = []
    for migration in available():
        if migration.version in done:
            continue
        statements = migration.statements(db, pool.settings.dedup_window)
        if cluster:
            from storage.clickhouse.cluster import cluster_statements

            statements = cluster_statements(statements, cluster)
        for statement in statements:
            pool.command(statement)
        pool.insert(
            "schema_migrations", [[migration.version], [migration.name]], ["version", "name"]
        )
        log.info("applied migration %s", migration.name)
        applied.append(migration.name)
    return applied
