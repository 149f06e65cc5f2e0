"""The columnar decoder as a ``BatchDecoder`` for the schema property test.

``columnar_decoder(messages)`` gives, per message, one verdict per event it holds (True: would
be stored), from :func:`core.columnar.decode_columns`: the shape of
``tests.schema_property.core_decoder``, so it can join that test's ``DECODERS``.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.columnar import decode_columns
from core.decode import Limits, SourceRecord


def columnar_decoder(messages: Sequence[bytes | None]) -> list[list[bool]]:
    records = [SourceRecord(m or b"", "t", 0, offset) for offset, m in enumerate(messages)]
    batch = decode_columns(records, Limits())
    found: dict[int, list[tuple[int, bool]]] = {i: [] for i in range(len(messages))}
    if batch.columns is not None:
        for key in batch.columns.order.tolist():
            found[key >> 20].append((key & 0xFFFFF, True))
    for key in batch.exact_order:
        found[key >> 20].append((key & 0xFFFFF, True))
    for r in batch.exact.rejected:
        found[r.record.offset].append((r.record.index & 0xFFFFF, False))
    return [[verdict for _, verdict in sorted(pairs)] for _, pairs in sorted(found.items())]
