"""Random questions for the same-layer benchmarks: every request gets its own period, offset,
filter or log id, drawn from a seeded generator, so no result cache can answer by repetition
and llmhub and PostgreSQL are asked exactly the same questions.

Periods are random instants (millisecond precision: ragged edges, the costly case) over the
data set's six months, 1 to 60 days long; ``summary_dates`` asks whole days, as a dashboard
with a date picker does. Deep pages start anywhere in the client's calls, filtered pages
anywhere in the first thousand matches of a random provider and success value.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PROVIDERS = ("openai", "anthropic", "groq", "google", "mistral")
QUESTIONS = (
    "summary",
    "summary_dates",
    "by_provider",
    "by_endpoint",
    "current_month",
    "logs",
    "logs_filtered",
    "logs_deep",
    "log_details",
)
USAGE = ("summary", "summary_dates", "by_provider", "by_endpoint", "current_month")
PAGE = 100


@dataclass(frozen=True)
class Ask:
    question: str
    start: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    end: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    offset: int = 0
    provider: str | None = None
    success: bool | None = None
    log_id: str = ""


def draw(
    question: str,
    n: int,
    seed: int,
    first: datetime,
    last: datetime,
    client_events: int,
    log_ids: list[str],
) -> list[Ask]:
    """``n`` random asks of ``question`` for a client whose events lie in [first, last]."""
    rng = random.Random(f"{question}/{seed}")  # noqa: S311  (reproducible, not secret)
    span_ms = int((last - first).total_seconds() * 1000)
    out = []
    for _ in range(n):
        if question in ("summary", "summary_dates", "by_provider", "by_endpoint"):
            days = rng.uniform(1, 60)
            start = first + timedelta(milliseconds=rng.randrange(max(span_ms, 1)))
            end = start + timedelta(days=days)
            if question == "summary_dates":
                start = start.replace(hour=0, minute=0, second=0, microsecond=0)
                end = start + timedelta(days=max(1, round(days)))
            out.append(Ask(question, start=start, end=end))
        elif question == "logs_filtered":
            out.append(
                Ask(
                    question,
                    offset=rng.randrange(1000),
                    provider=rng.choice(PROVIDERS),
                    success=rng.random() < 0.5,
                )
            )
        elif question == "logs_deep":
            out.append(Ask(question, offset=rng.randrange(max(client_events - PAGE, 1))))
        elif question == "log_details":
            out.append(Ask(question, log_id=rng.choice(log_ids)))
        else:  # current_month, logs (first page): their parameters are fixed by the API
            out.append(Ask(question))
    return out
