"""Is the sink alive, and ready? A pure verdict over its state, with an injected clock.

- crashed (the consuming task died): not live, not ready;
- retrying (storage or the broker failing): not ready at once; not live once it has lasted
  ``stall_s`` (stuck);
- records waiting (lag) while no batch finished for ``stall_s``: not live, not ready (stalled);
- not started yet: live, not ready.

``reason`` is safe to show anyone; ``details`` (lag per partition, last error text, counters)
only to the admin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SinkState:
    started: bool
    crashed: str | None  # what killed the consuming task, if it died
    now: float  # monotonic seconds, like the two below
    last_progress_at: float
    degraded_since: float | None
    lag: dict[str, int]
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    live: bool
    ready: bool
    reason: str
    details: dict[str, Any]


def judge(state: SinkState, stall_s: float) -> Verdict:
    waiting = sum(state.lag.values())
    idle_s = state.now - state.last_progress_at
    details: dict[str, Any] = {
        **state.stats,
        "lag": state.lag,
        "seconds_since_progress": round(idle_s, 1),
        "degraded_s": (
            round(state.now - state.degraded_since, 1) if state.degraded_since is not None else 0
        ),
    }
    if state.crashed is not None:
        details["crash"] = state.crashed
        return Verdict(False, False, "sink crashed", details)
    if not state.started:
        return Verdict(True, False, "sink starting", details)
    if state.degraded_since is not None:
        retrying_s = state.now - state.degraded_since
        if retrying_s >= stall_s:
            return Verdict(False, False, f"sink stuck retrying for {retrying_s:.0f} s", details)
        return Verdict(True, False, f"sink degraded: retrying for {retrying_s:.0f} s", details)
    if waiting > 0 and idle_s >= stall_s:
        msg = f"sink made no progress for {idle_s:.0f} s while {waiting} records wait"
        return Verdict(False, False, msg, details)
    return Verdict(True, True, "ok", details)
