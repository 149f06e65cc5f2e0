"""Clients, budgets and API keys in ClickHouse: versioned rows (ReplacingMergeTree + FINAL).

The rules (key format, budget limits) are in :mod:`core.tenancy`; this module stores them.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from decimal import Decimal
from typing import Any

from core import utc
from core.errors import Conflict, NotFound, ValidationFailed
from core.tenancy import (
    DEFAULT_THRESHOLDS,
    ApiKey,
    Client,
    IssuedKey,
    check_budget,
    client_id_problems,
    key_hash,
    key_id_of,
    new_key,
)
from core.ttlcache import TTLCache
from storage.clickhouse.pool import ClickHousePool


def _now() -> datetime:
    # Versions and timestamps are stored as naive UTC (the columns are UTC).
    return utc.naive(utc.now())


# Valid keys and client settings are remembered this long per process: a key revoked or a
# budget changed through another API replica takes effect within it (at once on this one).
CACHE_TTL_S = 5.0


class TenantStore:
    """Reads and writes clients and keys; rows are versioned (ReplacingMergeTree + FINAL)."""

    def __init__(self, pool: ClickHousePool, cache_ttl_s: float = CACHE_TTL_S) -> None:
        self.pool = pool
        self.db = pool.database
        self._keys: TTLCache[str, tuple[ApiKey, str] | None] = TTLCache(cache_ttl_s)
        self._clients: TTLCache[str, Client | None] = TTLCache(cache_ttl_s)

    # -- clients -----------------------------------------------------------------------------
    def create_client(
        self,
        client_id: str,
        name: str,
        monthly_budget_usd: Decimal | None = None,
        alert_thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS,
    ) -> Client:
        problems = client_id_problems(client_id)
        if problems:
            raise ValidationFailed(problems)
        check_budget(monthly_budget_usd, alert_thresholds)
        if self.get_client(client_id) is not None:
            raise Conflict(f"client {client_id} already exists")
        now = _now()
        client = Client(
            client_id, name, monthly_budget_usd, tuple(sorted(set(alert_thresholds))), now
        )
        self._write_client(client, now)
        return client

    def update_client(
        self,
        client_id: str,
        *,
        name: str | None = None,
        monthly_budget_usd: Decimal | None = None,
        clear_budget: bool = False,
        alert_thresholds: tuple[int, ...] | None = None,
    ) -> Client:
        current = self.require_client(client_id)
        # None means "unchanged"; 0, [] and "" are values (a zero budget, no alerts).
        budget = current.monthly_budget_usd if monthly_budget_usd is None else monthly_budget_usd
        if clear_budget:
            budget = None
        given = current.alert_thresholds if alert_thresholds is None else alert_thresholds
        thresholds = tuple(sorted(set(given)))
        check_budget(budget, thresholds)
        new_name = current.name if name is None else name
        updated = Client(client_id, new_name, budget, thresholds, current.created_at)
        self._write_client(updated, _now())
        self._clients.invalidate(client_id)
        return updated

    def _write_client(self, client: Client, version: datetime) -> None:
        self.pool.insert(
            "clients",
            [
                [client.client_id],
                [client.name],
                [client.monthly_budget_usd],
                [list(client.alert_thresholds)],
                [client.created_at],
                [version],
            ],
            [
                "client_id",
                "name",
                "monthly_budget_usd",
                "alert_thresholds",
                "created_at",
                "updated_at",
            ],
        )

    def get_client(self, client_id: str) -> Client | None:
        rows = self.pool.query_rows(
            "SELECT client_id, name, monthly_budget_usd, alert_thresholds, created_at "
            f"FROM {self.db}.clients FINAL WHERE client_id = {{cid:String}}",
            {"cid": client_id},
        )
        return self._client(rows[0]) if rows else None

    def require_client(self, client_id: str) -> Client:
        client = self.get_client(client_id)
        if client is None:
            raise NotFound(f"client {client_id} not found")
        return client

    def list_clients(self) -> list[Client]:
        rows = self.pool.query_rows(
            "SELECT client_id, name, monthly_budget_usd, alert_thresholds, created_at "
            f"FROM {self.db}.clients FINAL ORDER BY client_id"
        )
        return [self._client(r) for r in rows]

    @staticmethod
    def _client(row: tuple[Any, ...]) -> Client:
        return Client(row[0], row[1], row[2], tuple(int(t) for t in row[3]), row[4])

    # -- keys --------------------------------------------------------------------------------
    def issue_key(self, client_id: str, label: str = "") -> IssuedKey:
        self.require_client(client_id)
        key_id, key = new_key()
        now = _now()
        info = ApiKey(key_id, client_id, label, now, None)
        self._write_key(info, key_hash(key), now)
        return IssuedKey(key, info)

    def revoke_key(self, key_id: str) -> ApiKey:
        row = self._key_row(key_id)
        if row is None:
            raise NotFound(f"key {key_id} not found")
        info, stored_hash = row
        if info.revoked_at is None:
            now = _now()
            info = ApiKey(info.key_id, info.client_id, info.label, info.created_at, now)
            self._write_key(info, stored_hash, now)
        self._keys.invalidate(key_id)
        return info

    def list_keys(self, client_id: str) -> list[ApiKey]:
        self.require_client(client_id)
        rows = self.pool.query_rows(
            "SELECT key_id, client_id, label, created_at, revoked_at "
            f"FROM {self.db}.api_keys FINAL WHERE client_id = {{cid:String}} ORDER BY created_at",
            {"cid": client_id},
        )
        return [ApiKey(*r) for r in rows]

    def authenticate(self, api_key: str) -> str | None:
        """The client a key belongs to, or None for a malformed, unknown or revoked key.

        Key rows are cached by key id for CACHE_TTL_S, so a key in use, right or wrong
        secret, costs no query; ids that do not exist are not cached (random ids must not
        fill the cache) and cost a lookup each: the API gates those (query_api.auth).
        """
        key_id = key_id_of(api_key)
        if key_id is None:
            return None
        row = self._keys.get_or_load(key_id, lambda: self._key_row(key_id))
        if row is None:
            self._keys.invalidate(key_id)
            return None
        info, stored_hash = row
        if not hmac.compare_digest(stored_hash, key_hash(api_key)) or info.revoked_at is not None:
            return None
        return info.client_id

    def cached_client(self, client_id: str) -> Client | None:
        """get_client, remembered for CACHE_TTL_S (read on every current-month request)."""
        return self._clients.get_or_load(client_id, lambda: self.get_client(client_id))

    def _key_row(self, key_id: str) -> tuple[ApiKey, str] | None:
        rows = self.pool.query_rows(
            "SELECT key_id, client_id, label, created_at, revoked_at, key_hash "
            f"FROM {self.db}.api_keys FINAL WHERE key_id = {{kid:String}}",
            {"kid": key_id},
        )
        if not rows:
            return None
        r = rows[0]
        return ApiKey(r[0], r[1], r[2], r[3], r[4]), str(r[5])

    def _write_key(self, info: ApiKey, hashed: str, version: datetime) -> None:
        self.pool.insert(
            "api_keys",
            [
                [info.key_id],
                [info.client_id],
                [hashed],
                [info.label],
                [info.created_at],
                [info.revoked_at],
                [version],
            ],
            ["key_id", "client_id", "key_hash", "label", "created_at", "revoked_at", "updated_at"],
        )
