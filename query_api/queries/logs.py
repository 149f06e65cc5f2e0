"""Per-call log queries: a filtered page newest first, its total count, and one call's row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from query_api.queries import Query

LOG_COLUMNS = (
    "event_id",
    "occurred_at",
    "provider",
    "model",
    "endpoint",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_source",
    "latency_ms",
    "success",
    "status_code",
    "error_type",
    "request_id",
    "end_user_id",
)

DETAIL_COLUMNS = (
    *LOG_COLUMNS,
    "ingested_at",
    "price_version",
    "error_message",
    "request_metadata",
    "response_metadata",
    "schema_version",
    "source",
    "source_partition",
    "source_offset",
)


@dataclass(frozen=True)
class LogFilter:
    client_id: str
    provider: str | None = None
    endpoint: str | None = None
    success: bool | None = None

    def where(self) -> tuple[str, dict[str, object]]:
        clauses = ["client_id = {client_id:String}"]
        params: dict[str, object] = {"client_id": self.client_id}
        if self.provider is not None:
            clauses.append("provider = {provider:String}")
            params["provider"] = self.provider
        if self.endpoint is not None:
            clauses.append("endpoint = {endpoint:String}")
            params["endpoint"] = self.endpoint
        if self.success is not None:
            clauses.append("success = {success:Bool}")
            params["success"] = self.success
        return " AND ".join(clauses), params


def log_page(database: str, flt: LogFilter, limit: int, offset: int) -> Query:
    where, params = flt.where()
    sql = (
        f"SELECT {', '.join(LOG_COLUMNS)} FROM {database}.generations WHERE {where} "
        "ORDER BY occurred_at DESC, event_id DESC "
        "LIMIT {limit:UInt32} OFFSET {offset:UInt64}"
    )
    return Query(sql, {**params, "limit": limit, "offset": offset})


def log_count(database: str, flt: LogFilter) -> Query:
    where, params = flt.where()
    return Query(f"SELECT count() FROM {database}.generations WHERE {where}", params)


def log_detail(database: str, client_id: str, log_id: uuid.UUID) -> Query:
    """The call, only if it is this client's: another client's id reads as not found."""
    sql = (
        f"SELECT {', '.join(DETAIL_COLUMNS)} FROM {database}.generations "
        "WHERE client_id = {client_id:String} AND event_id = {log_id:UUID} LIMIT 1"
    )
    return Query(sql, {"client_id": client_id, "log_id": log_id})
