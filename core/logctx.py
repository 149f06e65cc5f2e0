"""Context that log lines carry without being passed around: the current request's id."""

from __future__ import annotations

from contextvars import ContextVar

# Set by the API for each request (X-Request-Id, echoed or generated); "" outside requests.
request_id: ContextVar[str] = ContextVar("request_id", default="")
