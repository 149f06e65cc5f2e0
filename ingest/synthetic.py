"""Realistic synthetic generation events, for the demo, load generation, tests and benchmarks.

Deterministic for a given seed. Mixes the catalog's models with one model the catalog does not
know (so *unpriced* calls show up), ~2% failures, prompt caching and reasoning tokens.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

ENDPOINTS = (
    "content_generation",
    "chat",
    "translation",
    "summarization",
    "image_generation",
    "embeddings",
    "code_review",
)

# (provider, model, relative weight); "acme-experimental" has no catalog price on purpose.
MODELS = (
    ("openai", "gpt-4o-mini", 30),
    ("openai", "gpt-4o", 8),
    ("openai", "gpt-4.1", 6),
    ("openai", "o4-mini", 4),
    ("openai", "gpt-5-mini", 6),
    ("anthropic", "claude-sonnet-4-5", 10),
    ("anthropic", "claude-haiku-4-5", 8),
    ("anthropic", "claude-opus-4-1", 1),
    ("groq", "llama-3.3-70b-versatile", 8),
    ("groq", "llama-3.1-8b-instant", 6),
    ("google", "gemini-2.5-flash", 7),
    ("google", "gemini-2.5-pro", 2),
    ("mistral", "mistral-small-latest", 3),
    ("mistral", "mistral-large-latest", 1),
    ("acme", "acme-experimental", 1),
)
_REASONING = {"o4-mini", "gpt-5-mini", "gemini-2.5-pro", "claude-opus-4-1"}
_ERRORS = (
    (429, "rate_limit_error", "Rate limit reached for requests"),
    (500, "server_error", "The server had an error while processing your request"),
    (400, "invalid_request_error", "This model's maximum context length is exceeded"),
    (503, "overloaded_error", "Overloaded"),
)


class EventFactory:
    """Builds event dicts (the JSON producers send), one at a time or as a stream."""

    def __init__(self, seed: int = 7, provider_cost_share: float = 0.1) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        self.provider_cost_share = provider_cost_share
        self._models = [(p, m) for p, m, _ in MODELS]
        self._weights = [w for _, _, w in MODELS]

    def event(self, client_id: str, occurred_at: datetime) -> dict[str, Any]:
        rng = self.rng
        provider, model = rng.choices(self._models, self._weights)[0]
        endpoint = rng.choice(ENDPOINTS)
        success = rng.random() >= 0.02
        input_tokens = int(rng.lognormvariate(6.5, 1.0)) + 1
        output_tokens = int(rng.lognormvariate(5.5, 1.0)) + 1 if success else 0
        cached = int(input_tokens * rng.choice((0, 0, 0, 0.5, 0.9)))
        reasoning = int(output_tokens * rng.uniform(0.2, 0.7)) if model in _REASONING else 0
        event: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "client_id": client_id,
            "occurred_at": occurred_at.isoformat(),
            "provider": provider,
            "model": model,
            "endpoint": endpoint,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cached_input_tokens": cached,
            "reasoning_tokens": reasoning,
            "latency_ms": int(rng.lognormvariate(6.8, 0.6)),
            "success": success,
            "status_code": 200,
            "request_id": f"req_{rng.getrandbits(48):012x}",
            "end_user_id": f"user_{rng.randrange(500)}",
            "request_metadata": {"temperature": round(rng.uniform(0, 1), 2), "stream": False},
            "response_metadata": {"finish_reason": "stop" if success else "error"},
        }
        if not success:
            code, kind, message = rng.choice(_ERRORS)
            event.update(status_code=code, error_type=kind, error_message=message)
        if success and rng.random() < self.provider_cost_share:
            # Some providers report the charge themselves; it wins over the catalog.
            event["cost_usd"] = f"{rng.uniform(0.0001, 0.05):.9f}"
        return event

    def month(
        self, clients: dict[str, int], start: datetime, end: datetime
    ) -> Iterator[dict[str, Any]]:
        """``count`` events per client spread over [start, end), in time order per client."""
        span = (end - start).total_seconds()
        for client_id, count in clients.items():
            offsets = sorted(self.rng.uniform(0, span) for _ in range(count))
            for offset in offsets:
                yield self.event(client_id, start + timedelta(seconds=offset))
