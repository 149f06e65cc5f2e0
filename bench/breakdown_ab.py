"""A/B of the breakdown grouping in the read model, interleaved on one model and one set of asks.

``old`` is the per-combo loop ``CachedReads.by_pair`` had before ``ClientRollup.pair_index``
(one Python Metrics per combo, hundreds per answer); ``new`` is the numpy grouping. Both must
give identical dicts (asserted on every ask). The order of the two alternates at random.

Run ``python -m bench.breakdown_ab --data-dir DIR --client ID [--asks 400]`` on an engine
directory made by ``python -m bench.datagen generate``. Prints p50/p99 ms per call and the ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np

from bench.layer import client_facts
from core.pricing import load_catalog
from core.settings import ClickHouseSettings
from core.usage import Metrics
from storage import Dimension
from storage.clickhouse import ClickHouseStorage, edges
from storage.clickhouse.cached import _POSITION, CachedReads, _add
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.readmodel import CALLS

Pairs = dict[tuple[str, str], Metrics]
DIMS: tuple[Dimension, Dimension] = ("provider", "model")


def old(reads: CachedReads, client: str, start: datetime, end: datetime) -> Pairs:
    """The loop as it was (the read model's part; every ask here has a model)."""
    model = reads.model(client)
    assert model is not None
    lo, hi, raw = reads._plan(model, start, end)
    parts = [model.per_combo(lo, hi)] if lo < hi else []
    if raw and model.edges is not None:
        n = len(model.combos)
        parts.extend(model.edges.per_combo(a, b, n) for _, a, b in edges.pieces(start, end))
    found: Pairs = {}
    first, second = _POSITION[DIMS[0]], _POSITION[DIMS[1]]
    if parts:
        sums = parts[0].copy()
        for part in parts[1:]:
            sums += part
        for i in np.flatnonzero(sums[CALLS]):
            combo = model.combos[i]
            _add(found, (str(combo[first]), str(combo[second])), sums[:, i])
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--asks", type=int, default=400)
    args = ap.parse_args()
    pool = ClickHousePool(ClickHouseSettings(data_dir=args.data_dir))
    reads = ClickHouseStorage(pool, load_catalog(), read_model=True).usage
    assert isinstance(reads, CachedReads)
    first, last, _, _ = client_facts(pool, args.client)
    rnd = random.Random(7)  # noqa: S311 - reproducible asks, not security
    span = (last - first).total_seconds()

    def new(reads: CachedReads, client: str, start: datetime, end: datetime) -> Pairs:
        return reads.by_pair(client, start, end, DIMS)

    ways: dict[str, Callable[[CachedReads, str, datetime, datetime], Pairs]] = {
        "old": old,
        "new": new,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    new(reads, args.client, first, last)  # load the model
    for _ in range(args.asks):
        start = first + timedelta(
            seconds=rnd.uniform(0, span / 2), microseconds=rnd.randint(0, 999_999)
        )
        end = start + timedelta(seconds=rnd.uniform(3600, span / 2))
        order = list(ways)
        rnd.shuffle(order)
        answers = {}
        for name in order:
            began = time.perf_counter()
            answers[name] = ways[name](reads, args.client, start, end)
            times[name].append((time.perf_counter() - began) * 1000)
        assert answers["old"] == answers["new"]
    for name, values in times.items():
        values.sort()
        p99 = values[int(len(values) * 0.99) - 1]
        print(f"{name}: p50 {statistics.median(values):.3f} ms  p99 {p99:.3f} ms")
    ratio = statistics.median(times["old"]) / statistics.median(times["new"])
    print(f"old / new p50: {ratio:.1f}x ({args.asks} asks, identical answers)")
    pool.close()


if __name__ == "__main__":
    main()
