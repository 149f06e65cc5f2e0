"""Engine errors sorted into the storage contract's categories: retry, or blame the data.

clickhouse-connect raises one hierarchy (``ClickHouseError``) carrying the server's numeric
error code, the same for the embedded engine and a server. The sink's failure model rests on
this sorting (README, "The sink's failure model"):

- transient (:class:`StorageUnavailable`): the engine is unreachable, slow, overloaded, or its
  tables are being changed (detached, migrated): the same rows will be taken later;
- refused (:class:`StorageRefused`): the engine refuses these rows (a value its column cannot
  hold, a constraint, a block shape): they will be refused again, so the sink pins the refusal
  on a record and dead-letters it;
- unknown (:class:`StorageUnknownError`): any other error code from the engine; retried a
  bounded number of times, then handled as refused. An engine error without a code (HTTP
  status from a proxy, say) is transient: a refusal of the data always carries a code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from clickhouse_connect.driver.exceptions import (
    ClickHouseError,
    DataError,
    InterfaceError,
    OperationalError,
)

from storage import StorageError, StorageRefused, StorageUnavailable, StorageUnknownError

# Reasons (dead-letter topic header and table column) for records the store refuses.
ENGINE_REFUSED = "engine_refused"
UNPREPARABLE = "unpreparable"

# ClickHouse server error codes (src/Common/ErrorCodes.cpp) that say "later may work".
TRANSIENT_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE (connection cut)
        16,  # NO_SUCH_COLUMN_IN_TABLE (migration under way)
        32,  # ATTEMPT_TO_READ_AFTER_EOF
        60,  # UNKNOWN_TABLE (detached, being recreated)
        81,  # UNKNOWN_DATABASE
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        243,  # NOT_ENOUGH_SPACE
        285,  # TOO_FEW_LIVE_REPLICAS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        473,  # DEADLOCK_AVOIDED
        999,  # KEEPER_EXCEPTION
        1000,  # POCO_EXCEPTION
    }
)
# Codes that say "these rows are the problem".
REFUSED_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        43,  # ILLEGAL_TYPE_OF_ARGUMENT
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA
        131,  # TOO_LARGE_STRING_SIZE
        190,  # SIZES_OF_ARRAYS_DONT_MATCH
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        407,  # DECIMAL_OVERFLOW
        469,  # VIOLATED_CONSTRAINT
    }
)
TOO_MANY_PARTS = 252

T = TypeVar("T")


def classify(exc: BaseException, what: str) -> StorageError:
    """The storage category of ``exc``, raised while ``what`` (e.g. "insert")."""
    if isinstance(exc, StorageError):
        return exc
    text = f"{what}: {exc}"[:2000]
    if isinstance(exc, ClickHouseError):
        code = getattr(exc, "code", None)
        if code == TOO_MANY_PARTS:
            # One code, two meanings: a block spanning too many partitions (this block's shape,
            # permanent) or too many parts awaiting merges (back-pressure, passes).
            if "partitions for single insert block" in str(exc).lower():
                return StorageRefused(text, ENGINE_REFUSED)
            return StorageUnavailable(text)
        if code in REFUSED_CODES or isinstance(exc, DataError):
            return StorageRefused(text, ENGINE_REFUSED)
        if code in TRANSIENT_CODES or isinstance(exc, (OperationalError, InterfaceError)):
            return StorageUnavailable(text)
        if code is None:
            # No server error code: the request never reached the engine's judgement (a proxy's
            # 502/503, a closed client). A refusal of the data always carries a code.
            return StorageUnavailable(text)
        return StorageUnknownError(text)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return StorageUnavailable(text)
    # Anything else raised while turning rows into a block (a value Arrow or the encoder
    # cannot represent) is about the rows themselves.
    return StorageRefused(text, UNPREPARABLE)


def guard(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``; any exception leaves as the storage category it belongs to."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        raise classify(exc, what) from exc
