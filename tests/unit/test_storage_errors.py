"""Engine errors sorted into retry (transient) or blame the data (refused)."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from storage import StorageRefused, StorageUnavailable, StorageUnknownError
from storage.clickhouse.errors import classify


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (DatabaseError("Code: 60. Unknown table", code=60), StorageUnavailable),
        (DatabaseError("Code: 159. Timeout exceeded", code=159), StorageUnavailable),
        (DatabaseError("Code: 241. Memory limit", code=241), StorageUnavailable),
        (OperationalError("connection refused"), StorageUnavailable),
        (ConnectionResetError("reset"), StorageUnavailable),
        (DatabaseError("Code: 469. Constraint violated", code=469), StorageRefused),
        (DatabaseError("Code: 321. Value out of range", code=321), StorageRefused),
        (DatabaseError("Code: 407. Decimal overflow", code=407), StorageRefused),
        (
            DatabaseError("Too many partitions for single INSERT block (more than 100)", code=252),
            StorageRefused,
        ),
        (
            DatabaseError("Too many parts (300). Merges are processing slower", code=252),
            StorageUnavailable,
        ),
        (DatabaseError("Code: 1001. std::exception", code=1001), StorageUnknownError),
        (DatabaseError("HTTP driver received HTTP status 502"), StorageUnavailable),
        (OverflowError("date value out of range"), StorageRefused),
        (TypeError("Recursion limit reached"), StorageRefused),
    ],
)
def test_classify(exc: Exception, kind: type[Exception]) -> None:
    assert type(classify(exc, "insert")) is kind


def test_refusal_carries_the_engines_words() -> None:
    refused = classify(DatabaseError("Code: 469. x (VIOLATED_CONSTRAINT)", code=469), "insert")
    assert isinstance(refused, StorageRefused) and refused.reason == "engine_refused"
    assert "VIOLATED_CONSTRAINT" in str(refused) and str(refused).startswith("insert: ")
