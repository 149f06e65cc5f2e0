"""PostgreSQL baseline: the six billing questions on a LiteLLM-style spend-log table.

The events the benchmark generated in ClickHouse are exported as TSV and loaded into
PostgreSQL (Debian's package, run by ``deploy/bench/postgres.sh``) in the shape a LiteLLM proxy
keeps them (:mod:`bench.postgres.load`); the billing API's questions are then asked in SQL and
timed from the client (:mod:`bench.postgres.questions`). This module runs the server.
"""

from __future__ import annotations

import subprocess
from typing import Any

import psycopg

from bench.common import ROOT

DSN_PREFIX = "BENCH_PG_DSN="


def _script(command: str) -> str:
    # Our own script with a fixed command word: nothing untrusted reaches the shell. Its
    # settings (port, home, memory) come from the BENCH_PG_* variables of this environment.
    script = ROOT / "deploy" / "bench" / "postgres.sh"
    done = subprocess.run(
        ["bash", str(script), command], check=True, stdout=subprocess.PIPE, text=True
    )
    return done.stdout


def start_server() -> str:
    """Start (installing and initialising if needed) the benchmark server; returns its DSN."""
    out = _script("start")
    lines = [line for line in out.splitlines() if line.startswith(DSN_PREFIX)]
    if not lines:
        raise RuntimeError(f"postgres.sh start printed no {DSN_PREFIX} line: {out!r}")
    return lines[-1].removeprefix(DSN_PREFIX)


def stop_server() -> None:
    _script("stop")


def connect(dsn: str) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection in UTC that never prepares statements server-side.

    psycopg prepares a query after 5 executions, and PostgreSQL then switches to a
    generic plan (made without the parameter values) after 5 more if it looks no costlier:
    a measured series would change plans part-way through, and the plan measured would
    not be the one EXPLAIN shows. Unprepared, every execution is planned for its actual
    values (a custom plan), as it would be from most ORMs; planning time (well under a
    millisecond here) is part of each measured latency, as parsing is on ClickHouse.
    """
    return psycopg.connect(
        dsn,
        autocommit=True,
        prepare_threshold=None,
        options="-c TimeZone=UTC",
        application_name="llmhub-bench",
    )


def server_version(dsn: str) -> str:
    with connect(dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "PostgreSQL"
