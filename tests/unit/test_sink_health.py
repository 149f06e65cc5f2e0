"""Health verdicts of the sink at their boundaries, with an injected clock."""

from __future__ import annotations

from ingest.health import SinkState, judge

STALL = 60.0


def state(**changes: object) -> SinkState:
    base: dict[str, object] = {
        "started": True,
        "crashed": None,
        "now": 1000.0,
        "last_progress_at": 1000.0,
        "degraded_since": None,
        "lag": {"t[0]": 0},
        "stats": {"inserted": 5, "last_error": "secret detail"},
    }
    return SinkState(**{**base, **changes})  # type: ignore[arg-type]


def test_healthy_idle_sink_is_live_and_ready() -> None:
    v = judge(state(last_progress_at=0.0), STALL)  # idle for long, but nothing waits
    assert (v.live, v.ready, v.reason) == (True, True, "ok")


def test_retrying_is_not_ready_at_once_and_not_live_from_stall_s() -> None:
    v = judge(state(degraded_since=1000.0 - STALL + 0.001), STALL)
    assert (v.live, v.ready) == (True, False) and v.reason.startswith("sink degraded")
    v = judge(state(degraded_since=1000.0 - STALL), STALL)
    assert (v.live, v.ready) == (False, False) and v.reason.startswith("sink stuck retrying")


def test_no_progress_while_records_wait_is_a_stall_from_stall_s() -> None:
    waiting = {"t[0]": 3, "t[1]": 0}
    v = judge(state(lag=waiting, last_progress_at=1000.0 - STALL + 0.001), STALL)
    assert (v.live, v.ready) == (True, True)
    v = judge(state(lag=waiting, last_progress_at=1000.0 - STALL), STALL)
    assert (v.live, v.ready) == (False, False)
    assert v.reason == "sink made no progress for 60 s while 3 records wait"


def test_crashed_and_starting() -> None:
    v = judge(state(crashed="RuntimeError: boom"), STALL)
    assert (v.live, v.ready, v.reason) == (False, False, "sink crashed")
    assert v.details["crash"] == "RuntimeError: boom"
    v = judge(state(started=False), STALL)
    assert (v.live, v.ready, v.reason) == (True, False, "sink starting")


def test_reason_never_carries_internals() -> None:
    for s in (state(), state(crashed="x: secret"), state(degraded_since=0.0)):
        v = judge(s, STALL)
        assert "secret" not in v.reason
        assert v.details["last_error"] == "secret detail"
