"""Rows of an export as records, and records as CSV or JSON Lines bytes.

Money leaves as the API writes it: a 9-place decimal string made from the stored Decimal
(``core.money.money``), in CSV and JSON alike; an unpriced call has no cost (empty in CSV,
``null`` in JSON), as in the logs endpoint. Log records carry the fields of a log item, usage
records the fields of a usage bucket, so an export reads like the API's own answers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

import orjson

from core import utc
from core.calendar import GroupBy
from core.usage import ZERO, Metrics
from query_api import bodies
from query_api.reports import log_fields, metric_fields
from storage import LOG_COLUMNS

ExportFormat = Literal["csv", "jsonl"]
Record = dict[str, Any]

# The fields of a log item, in its order: an export row reads like the logs endpoint's.
LOG_FIELDS = tuple(bodies.LogItem.model_fields)
METRIC_FIELDS = tuple(metric_fields(ZERO))

CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
}


def log_record(row: Sequence[Any]) -> Record:
    record = log_fields(dict(zip(LOG_COLUMNS, row, strict=True)))
    record["occurred_at"] = record["occurred_at"].isoformat()
    return record


def log_records(blocks: Iterable[Sequence[Sequence[Any]]]) -> Iterator[list[Record]]:
    for block in blocks:
        yield [log_record(row) for row in block]


def usage_fields(dims: Sequence[str]) -> tuple[str, ...]:
    return ("bucket_start", "bucket_end", *dims, *METRIC_FIELDS)


def _usage_record(start: datetime, group_by: GroupBy, keys: Sequence[Any], m: Metrics) -> Record:
    record: Record = {
        "bucket_start": utc.aware(start).isoformat(),
        "bucket_end": utc.aware(group_by.step(start)).isoformat(),
    }
    record.update(keys)
    record.update(metric_fields(m))
    return record


def usage_records(
    blocks: Iterable[Sequence[Sequence[Any]]],
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    dims: Sequence[str],
) -> Iterator[list[Record]]:
    """Records per block; without ``dims`` every bucket of the period appears, empty ones as
    zeros (as in the summary endpoint), merged in order with the stored ones."""
    lo, hi = utc.naive(start), utc.naive(end)
    walk = iter(group_by.starts(lo, hi)) if not dims else iter(())
    pending = next(walk, None)
    for block in blocks:
        out: list[Record] = []
        for row in block:
            bucket = utc.naive(row[0])
            keys = list(zip(dims, row[1 : 1 + len(dims)], strict=True))
            if not dims:
                while pending is not None and pending < bucket:
                    out.append(_usage_record(pending, group_by, (), ZERO))
                    pending = next(walk, None)
                if pending != bucket:  # a stored bucket the calendar does not know: never drop it
                    raise RuntimeError(f"bucket {bucket} outside the period's calendar")
                pending = next(walk, None)
            out.append(_usage_record(bucket, group_by, keys, Metrics.of(row[1 + len(dims) :])))
        yield out
    tail: list[Record] = []
    while pending is not None:
        tail.append(_usage_record(pending, group_by, (), ZERO))
        pending = next(walk, None)
    if tail:
        yield tail


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class Encoder:
    """Records to bytes in one format; CSV writes its header before the first chunk."""

    def __init__(self, fmt: ExportFormat, fields: Sequence[str]) -> None:
        self.fmt = fmt
        self.fields = tuple(fields)
        self._header_done = False

    def header(self) -> bytes:
        if self.fmt != "csv" or self._header_done:
            return b""
        self._header_done = True
        return self._csv([list(self.fields)])

    def encode(self, records: Iterable[Record]) -> bytes:
        if self.fmt == "jsonl":
            return b"".join(orjson.dumps(r) + b"\n" for r in records)
        return self.header() + self._csv([[_csv_value(r[f]) for f in self.fields] for r in records])

    @staticmethod
    def _csv(rows: list[list[Any]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue().encode()
