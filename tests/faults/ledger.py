"""What was sent against what is stored, exactly, read from a stopped service's engine.

Run as its own process (``python -m tests.faults.ledger``): the embedded engine lets a process
open one data directory only, and the fault runner looks at many.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests import oracle

GROUP_COLUMNS = ("calls", "cost_usd", "input_tokens", "output_tokens", "successes")


@dataclass
class Ledger:
    expected: int  # valid events sent (distinct event ids)
    rows: int  # rows stored
    stored: int  # expected events found stored
    lost: int  # expected events not stored
    duplicated: int  # rows beyond one per event id
    unexpected: int  # stored events that were never sent as valid
    groups_off: int  # (client, provider, endpoint) groups whose totals differ from the oracle
    rollup_off: int  # groups where the hourly rollup differs from the raw rows


def expected_groups(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, str | int]]:
    """Oracle totals per client/provider/endpoint, keyed as the ledger reads them back."""
    out: dict[str, dict[str, str | int]] = {}
    for key, t in oracle.group(
        events, lambda e: (e["client_id"], e["provider"].lower(), e["endpoint"].lower())
    ).items():
        out["|".join(key)] = {
            "calls": t["calls"],
            "cost_usd": t["cost_usd"],
            "input_tokens": t["input_tokens"],
            "output_tokens": t["output_tokens"],
            "successes": t["successes"],
        }
    return out


def write_expectation(path: Path, events: list[dict[str, Any]]) -> None:
    ids = sorted({e["event_id"] for e in events})
    path.write_text(json.dumps({"ids": ids, "groups": expected_groups(events)}))


def open_and_read(engine_dir: Path, expectation: Path, database: str = "llmhub") -> Ledger:
    """Open the engine (only in a process that has no other engine open) and compare."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{engine_dir.resolve()}")
    return read(client, expectation, database)


def read(client: Any, expectation: Path, db: str) -> Ledger:
    """Compare the expectation file with what ``db`` holds, through a clickhouse-connect client."""
    want = json.loads(expectation.read_text())
    rows, distinct = client.query(
        f"SELECT count(), uniqExact(event_id) FROM {db}.generations"
    ).result_rows[0]
    name = f"expected_{uuid.uuid4().hex[:8]}"
    table = f"{db}.{name}"
    client.command(f"CREATE TABLE {table} (id UUID) ENGINE = Memory")
    ids = [uuid.UUID(i) for i in want["ids"]]
    for start in range(0, len(ids), 200_000):
        chunk = [[i] for i in ids[start : start + 200_000]]
        client.insert(name, chunk, column_names=["id"], database=db)
    stored = client.query(
        f"SELECT count() FROM {table} WHERE id IN (SELECT event_id FROM {db}.generations)"
    ).result_rows[0][0]
    client.command(f"DROP TABLE {table}")
    raw = _groups(
        client,
        f"SELECT client_id, provider, endpoint, count(), toString(sum(cost_usd)), "
        f"sum(input_tokens), sum(output_tokens), countIf(success) FROM {db}.generations "
        "GROUP BY client_id, provider, endpoint",
    )
    rolled = _groups(
        client,
        f"SELECT client_id, provider, endpoint, sum(calls), toString(sum(cost_usd)), "
        f"sum(input_tokens), sum(output_tokens), sum(successes) FROM {db}.usage_hourly "
        "GROUP BY client_id, provider, endpoint",
    )
    expected_groups_ = want["groups"]
    groups_off = sum(
        1
        for key in set(raw) | set(expected_groups_)
        if raw.get(key) != _normal(expected_groups_.get(key))
    )
    rollup_off = sum(1 for key in set(raw) | set(rolled) if raw.get(key) != rolled.get(key))
    return Ledger(
        expected=len(ids),
        rows=int(rows),
        stored=int(stored),
        lost=len(ids) - int(stored),
        duplicated=int(rows) - int(distinct),
        unexpected=int(distinct) - int(stored),
        groups_off=groups_off,
        rollup_off=rollup_off,
    )


def _groups(client: Any, sql: str) -> dict[str, dict[str, str | int]]:
    out = {}
    for client_id, provider, endpoint, *values in client.query(sql).result_rows:
        group = _normal(dict(zip(GROUP_COLUMNS, values, strict=True)))
        assert group is not None
        out[f"{client_id}|{provider}|{endpoint}"] = group
    return out


def _normal(group: dict[str, Any] | None) -> dict[str, str | int] | None:
    """Money as a 9-place string, counts as int: the same spelling on both sides."""
    if group is None:
        return None
    return {k: oracle.fmt(Decimal(str(v))) if k == "cost_usd" else int(v) for k, v in group.items()}


def main() -> None:
    engine_dir, expectation = Path(sys.argv[1]), Path(sys.argv[2])
    print(json.dumps(asdict(open_and_read(engine_dir, expectation))))


if __name__ == "__main__":
    main()
