"""Bringing the hourly rollup back to what the raw rows hold, for named client-hours.

Why this exists: ``usage_hourly`` is filled by a materialized view inside the same INSERT as
``generations``, but the engine commits the two parts one after the other. A worker killed
between them (SIGKILL, power loss, OOM) leaves the raw rows stored and their rollup block
missing. Its records were not acked, so Kafka redelivers them; the restarted sink finds
those events already stored and, rightly, does not insert them again. Nothing would then
ever add them to the rollup: the usage totals would stay short while the logs are right.

So whenever the duplicate check finds events already stored, the store calls :func:`repair`
for their client-hours (:class:`storage.clickhouse.events.EventStore`). It compares the rollup
with the raw rows key by key and inserts the difference as extra rollup rows, which the
SummingMergeTree and every reader add up. A producer that merely resent an event finds the
two equal and nothing is written.

The caller must make sure no insert touching those client-hours is in flight (the store waits
for its own inserts; Kafka gives a client's events to one consumer at a time): a raw part
visible before its rollup part would otherwise be counted twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from core import utc
from core.usage import METRIC_NAMES, Metrics
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.sql.usage import ROLLUP_KEY, rollup_check

log = logging.getLogger("llmhub.storage.repair")

Key = tuple[Any, ...]  # (client_id, hour, provider, model, endpoint, success)
_KEY_NAMES = [name.strip() for name in ROLLUP_KEY.split(",")]


def _by_key(rows: Iterable[tuple[Any, ...]]) -> dict[Key, Metrics]:
    """Rows keyed by the rollup key, the hour as aware UTC whatever the column type gave."""
    width = len(_KEY_NAMES)
    return {(row[0], utc.aware(row[1]), *row[2:width]): Metrics.of(row[width:]) for row in rows}


def missing(rollup: dict[Key, Metrics], raw: dict[Key, Metrics]) -> dict[Key, Metrics]:
    """What each key's raw rows hold beyond its rollup rows (keys that differ only).

    A key whose rollup holds *more* than its raw rows cannot be lowered (the counters are
    unsigned, and no code path is known to cause it): it is logged and left alone.
    """
    out: dict[Key, Metrics] = {}
    for key, have in raw.items():
        rolled = rollup.get(key)
        if rolled == have:
            continue
        if rolled is None:
            out[key] = have
            continue
        delta = Metrics(
            have.cost_usd - rolled.cost_usd,
            *(a - b for a, b in zip(have[1:], rolled[1:], strict=True)),
        )
        if min(delta[1:]) < 0 or delta.cost_usd < 0:
            log.error("rollup holds more than the raw rows for %s: %s > %s", key, rolled, have)
            continue
        out[key] = delta
    for key in rollup.keys() - raw.keys():
        log.error("rollup has rows without raw rows for %s: %s", key, rollup[key])
    return out


def repair(pool: ClickHousePool, pairs: set[tuple[str, datetime]]) -> int:
    """Insert into ``usage_hourly`` what it lacks for these (client_id, naive UTC hour) pairs.

    Returns the number of rollup keys repaired. The insert's deduplication token is the
    comparison it is based on, so a retry of the same repair is dropped by the engine, and a
    later repair (made from other figures) is not.
    """
    if not pairs:
        return 0
    rollup_q, raw_q = rollup_check(pool.database, sorted(pairs))
    rollup = _by_key(pool.query_rows(rollup_q.sql, rollup_q.params))
    raw = _by_key(pool.query_rows(raw_q.sql, raw_q.params))
    delta = missing(rollup, raw)
    if not delta:
        return 0
    keys = sorted(delta)
    basis = repr([(k, raw[k], rollup.get(k)) for k in keys]).encode()
    columns = [list(col) for col in zip(*keys, strict=True)]
    columns += [[delta[k][i] for k in keys] for i in range(len(METRIC_NAMES))]
    pool.insert(
        "usage_hourly",
        columns,
        [*_KEY_NAMES, *METRIC_NAMES],
        settings={"insert_deduplication_token": "repair-" + hashlib.sha256(basis).hexdigest()},
    )
    for key in keys:
        log.warning("rollup repaired for %s: added %s", key, delta[key])
    return len(keys)
