"""The dead-letter table: rows written by the sink beside each dead-letter topic record.

The topic is the source of truth (original bytes and headers, replayable with Kafka tools);
the table makes it answerable: list and count by reason, client and status with SQL, and mark
rows replayed or discarded. Writing is idempotent: rows already present for a source position
are not written again, and a retried insert carries a dedup token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from core import utc
from storage import DeadLetter, DeadLetterFilter, DeadLetterKey, DeadLetterStatus
from storage.clickhouse.errors import guard
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.sql import equalities

_COLUMNS = [
    "source_topic",
    "source_partition",
    "source_offset",
    "source_index",
    "reason",
    "errors",
    "client_id",
    "value",
    "failed_at",
    "dlq_partition",
    "dlq_offset",
    "status",
    "updated_at",
]


class DeadLetterTable:
    """Implements :class:`storage.DeadLetterStore` on ``dead_letters``."""

    def __init__(self, pool: ClickHousePool) -> None:
        self.pool = pool
        self.db = pool.database

    def record(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        present = {d.key for d in self._by_keys([d.key for d in letters])}
        fresh = list({d.key: d for d in letters if d.key not in present}.values())
        if not fresh:
            return
        token = hashlib.sha256(repr(sorted(d.key for d in fresh)).encode()).hexdigest()
        self._insert(fresh, "open", None, token)

    def page(self, flt: DeadLetterFilter, limit: int, offset: int) -> list[dict[str, Any]]:
        where, params = _where(flt)
        listed = [c for c in _COLUMNS if c != "value"]
        rows = self.pool.query_rows(
            f"SELECT {', '.join(listed)}, toValidUTF8(substring(value, 1, 2000)) "
            f"FROM {self.db}.dead_letters FINAL {where} "
            "ORDER BY failed_at DESC, source_topic, source_partition, source_offset, "
            f"source_index LIMIT {int(limit)} OFFSET {int(offset)}",
            params,
        )
        found = []
        for row in rows:
            item = dict(zip([*listed, "value"], row, strict=True))
            item["errors"] = orjson.loads(item["errors"] or "[]")
            item["failed_at"] = utc.aware(item["failed_at"])
            item["updated_at"] = utc.aware(item["updated_at"])
            found.append(item)
        return found

    def counts(self, flt: DeadLetterFilter) -> list[dict[str, Any]]:
        where, params = _where(flt)
        rows = self.pool.query_rows(
            "SELECT reason, client_id, status, count() AS n, max(failed_at) "
            f"FROM {self.db}.dead_letters FINAL {where} "
            "GROUP BY reason, client_id, status ORDER BY n DESC, reason, client_id, status",
            params,
        )
        return [
            {
                "reason": r,
                "client_id": c,
                "status": s,
                "count": n,
                "newest_failed_at": utc.aware(newest),
            }
            for r, c, s, n, newest in rows
        ]

    def select(self, flt: DeadLetterFilter, limit: int) -> list[DeadLetter]:
        where, params = _where(flt)
        return self._rows(
            f"{where} ORDER BY source_topic, source_partition, source_offset, source_index "
            f"LIMIT {int(limit)}",
            params,
        )

    def mark(self, keys: Sequence[DeadLetterKey], status: DeadLetterStatus) -> int:
        found = self._by_keys(keys)
        if found:
            self._insert(found, status, utc.naive(utc.now()), None)
        return len(found)

    def _by_keys(self, keys: Sequence[DeadLetterKey]) -> list[DeadLetter]:
        if not keys:
            return []
        return self._rows(
            "WHERE (source_topic, source_partition, source_offset, source_index) "
            "IN {keys:Array(Tuple(String, Int32, Int64, Int32))}",
            {"keys": sorted(set(keys))},
        )

    def _rows(self, tail: str, params: dict[str, Any]) -> list[DeadLetter]:
        # The value travels as hex: the original bytes need not be UTF-8.
        rows = guard(
            "dead-letter read",
            self.pool.query_rows,
            "SELECT source_topic, source_partition, source_offset, source_index, reason, "
            "errors, client_id, hex(value), failed_at, dlq_partition, dlq_offset "
            f"FROM {self.db}.dead_letters FINAL {tail}",
            params,
        )
        return [
            DeadLetter(
                topic,
                partition,
                offset,
                index,
                reason,
                orjson.loads(errors or "[]"),
                client,
                bytes.fromhex(value),
                utc.aware(failed_at),
                dlq_partition,
                dlq_offset,
            )
            for (
                topic,
                partition,
                offset,
                index,
                reason,
                errors,
                client,
                value,
                failed_at,
                dlq_partition,
                dlq_offset,
            ) in rows
        ]

    def _insert(
        self,
        letters: Sequence[DeadLetter],
        status: DeadLetterStatus,
        updated_at: datetime | None,
        token: str | None,
    ) -> None:
        columns: list[list[Any]] = [[] for _ in _COLUMNS]
        for d in letters:
            row = [
                d.source_topic,
                d.source_partition,
                d.source_offset,
                d.source_index,
                d.reason,
                orjson.dumps(d.errors, default=str).decode(),
                d.client_id,
                d.value,
                utc.naive(d.failed_at),
                d.dlq_partition,
                d.dlq_offset,
                status,
                # A new row version: first written at the failure time, changes at theirs.
                updated_at or utc.naive(d.failed_at),
            ]
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        settings = {"insert_deduplication_token": token} if token else None
        guard("dead-letter insert", self.pool.insert, "dead_letters", columns, _COLUMNS, settings)


def _where(flt: DeadLetterFilter) -> tuple[str, dict[str, Any]]:
    clauses, params = equalities(
        ("reason", "String", flt.reason),
        ("client_id", "String", flt.client_id),
        ("status", "String", flt.status),
    )
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params
