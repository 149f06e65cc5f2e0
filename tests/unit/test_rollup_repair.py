"""The rollup repair's arithmetic and the gate that keeps it away from inserts in flight."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

from core.usage import Metrics
from storage.clickhouse.events import InsertGate
from storage.clickhouse.repair import missing

HOUR = datetime(2026, 10, 5, 13, tzinfo=UTC)
A = ("acme", HOUR, "openai", "gpt-4o", "chat", True)
B = ("acme", HOUR, "openai", "gpt-4o", "chat", False)


def m(cost: str, calls: int) -> Metrics:
    return Metrics(Decimal(cost), 10 * calls, 5 * calls, 0, 0, calls, calls, 7 * calls, 0)


def test_equal_keys_need_nothing() -> None:
    assert missing({A: m("1.5", 3)}, {A: m("1.5", 3)}) == {}


def test_a_key_absent_from_the_rollup_gets_all_its_raw_rows() -> None:
    assert missing({A: m("1.5", 3)}, {A: m("1.5", 3), B: m("0.000000001", 1)}) == {
        B: m("0.000000001", 1)
    }


def test_a_short_key_gets_the_difference_to_the_last_nano_dollar() -> None:
    delta = missing({A: m("1.000000001", 2)}, {A: m("1.500000002", 3)})
    assert delta == {A: m("0.500000001", 1)}


def test_a_cost_one_nano_dollar_short_is_repaired() -> None:
    rolled = m("2", 3)
    have = rolled._replace(cost_usd=Decimal("2.000000001"))
    assert missing({A: rolled}, {A: have}) == {A: m("0", 0)._replace(cost_usd=Decimal("1E-9"))}


def test_a_missing_free_call_is_repaired() -> None:
    # An unpriced call costs 0: a zero cost difference is still a difference to add.
    free = Metrics(Decimal(0), 10, 5, 0, 0, 1, 1, 7, 1)
    rolled = m("2", 3)
    assert missing({A: rolled}, {A: rolled.plus(free)}) == {A: free}


def test_a_rollup_above_the_raw_rows_is_left_alone() -> None:
    # Unsigned counters cannot be lowered by an added row: reported, not "repaired" upward.
    assert missing({A: m("2", 3)}, {A: m("1", 2)}) == {}
    over_cost = m("1", 2)._replace(cost_usd=Decimal("1.000000001"))
    assert missing({A: over_cost}, {A: m("1", 2)}) == {}


def test_the_gate_lets_a_repair_in_only_after_the_inserts_in_flight() -> None:
    gate = InsertGate()
    events: list[str] = []
    inside = threading.Event()

    def insert() -> None:
        with gate.shared():
            inside.set()
            time.sleep(0.2)
            events.append("insert done")

    def repair() -> None:
        inside.wait()
        with gate.alone():
            events.append("repair")

    threads = [threading.Thread(target=insert), threading.Thread(target=repair)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert events == ["insert done", "repair"]


def test_an_insert_waits_while_a_repair_runs() -> None:
    gate = InsertGate()
    events: list[str] = []
    repairing = threading.Event()

    def repair() -> None:
        with gate.alone():
            repairing.set()
            time.sleep(0.2)
            events.append("repair done")

    def insert() -> None:
        repairing.wait()
        with gate.shared():
            events.append("insert")

    threads = [threading.Thread(target=repair), threading.Thread(target=insert)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert events == ["repair done", "insert"]
