"""The few error categories llmhub raises; the API maps each to one HTTP status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Problem = dict[str, Any]


def problem(loc: Sequence[str | int], msg: str, kind: str) -> Problem:
    """One problem in the FastAPI shape clients parse: ``{"loc", "msg", "type"}``."""
    return {"loc": list(loc), "msg": msg, "type": kind}


class LlmhubError(Exception):
    """Root of every error llmhub raises on purpose."""


class NotFound(LlmhubError):
    """The thing does not exist, or belongs to someone else (never say which)."""


class Conflict(LlmhubError):
    """The thing already exists."""


class Unauthorized(LlmhubError):
    """Missing, unknown or revoked credentials."""


class Forbidden(LlmhubError):
    """Valid credentials, but not for this operation."""


class ValidationFailed(LlmhubError):
    """Input was refused; ``errors`` lists every problem as ``{"loc", "msg", "type"}``."""

    def __init__(self, errors: list[Problem]) -> None:
        super().__init__("; ".join(str(e.get("msg")) for e in errors))
        self.errors = errors


class TooManyRequests(LlmhubError):
    """Refused for now; ``retry_after`` says in how many seconds to ask again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(LlmhubError):
    """A dependency (ClickHouse, Kafka) is not reachable right now; retrying may help."""
