"""Read-only SQL for analysts (``llmhub-admin sql``), bounded in time and result size.

Each query gets a client of its own, opened for it and closed after: its session is set to
the limits and then to ``readonly = 1``, which also forbids changing a setting afterwards, so
a ``SETTINGS`` clause in the query cannot lift the limits, and writes, DDL and table functions
that reach outside (``file``, ``url``) are refused by the engine itself. A fresh session also
keeps one query's leftovers from another: on the embedded engine the partial output of a
failed query was seen at the head of the next query's result on the same handle.
"""

from __future__ import annotations

import clickhouse_connect

from core.errors import ValidationFailed, problem
from core.settings import ClickHouseSettings
from storage import SqlFormat, SqlLimits
from storage.clickhouse.pool import connect

FORMATS: dict[str, str] = {
    "csv": "CSVWithNames",
    "tsv": "TSVWithNames",
    "json": "JSON",
    "pretty": "PrettyCompactMonoBlock",
}

# Exact money in every format: decimals keep their 9 places, and JSON quotes them (and 64-bit
# integers) so a reader never turns them into floats.
_OUTPUT = {
    "output_format_decimal_trailing_zeros": "1",
    "output_format_json_quote_decimals": "1",
    "output_format_json_quote_64bit_integers": "1",
    "result_overflow_mode": "throw",
    "timeout_overflow_mode": "throw",
}


def session_settings(limits: SqlLimits) -> list[tuple[str, str]]:
    """SET statements in order: the limits first, readonly last (it locks the others)."""
    values = {
        **_OUTPUT,
        "max_execution_time": f"{limits.max_execution_s:g}",
        "max_result_rows": str(limits.max_result_rows),
        "max_result_bytes": str(limits.max_result_bytes),
    }
    return [*values.items(), ("readonly", "1")]


class ClickHouseConsole:
    """Implements storage.SqlConsole."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        self.settings = settings

    def run(self, sql: str, fmt: SqlFormat, limits: SqlLimits) -> bytes:
        client = connect(self.settings)
        try:
            per_query: dict[str, str] | None = None
            if self.settings.embedded:
                # The embedded engine keeps SET per handle: this handle is ours alone.
                client.command(f"USE {self.settings.database}")
                for name, value in session_settings(limits):
                    # Values come from our own settings (numbers, fixed words), never a request.
                    client.command(f"SET {name} = '{value}'")
            else:
                # A server takes settings with each request, applied before the query runs.
                client.database = self.settings.database
                per_query = dict(session_settings(limits))
            return bytes(client.raw_query(sql, fmt=FORMATS[fmt], settings=per_query))
        except clickhouse_connect.driver.exceptions.DatabaseError as exc:
            raise ValidationFailed([problem(["body", "sql"], _message(exc), "sql_error")]) from exc
        finally:
            client.close()


def _message(exc: Exception) -> str:
    """The engine's own message (it names the problem), without the driver's prefixes."""
    text = str(exc).strip()
    start = text.find("Code: ")
    return text[start:] if start >= 0 else text
