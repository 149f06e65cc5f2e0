"""The few error categories llmhub raises; the API maps each to one HTTP status."""

from __future__ import annotations

from typing import Any


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

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e.get("msg")) for e in errors))
        self.errors = errors


class Unavailable(LlmhubError):
    """A dependency (ClickHouse, Kafka) is not reachable right now; retrying may help."""
