"""The hostile corpus at the decoder: each record's verdict and reason, and the schema agrees."""

from __future__ import annotations

from collections import Counter

import pytest

from core.decode import Accepted, Limits, Rejection, SourceRecord, decode_message
from tests import hostile
from tests import schema_property as prop

CORPUS = hostile.corpus("hostile")


def test_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 60
    assert len({r.name for r in CORPUS}) == len(CORPUS)
    kinds = Counter(r.kind for r in CORPUS)
    assert len(kinds) >= 12, kinds
    assert len({r.value for r in CORPUS}) == len(CORPUS), "two records with the same bytes"


@pytest.mark.parametrize("record", CORPUS, ids=lambda r: r.name)
def test_each_record_gets_its_verdict_and_reason(record: hostile.Hostile) -> None:
    outcomes = decode_message(SourceRecord(record.value, "t", 0, 7), Limits())
    got = tuple(hostile.STORED if isinstance(o, Accepted) else o.reason for o in outcomes)
    assert got == record.expected, [getattr(o, "errors", None) for o in outcomes]
    for outcome in outcomes:
        if isinstance(outcome, Rejection):
            assert outcome.errors and all(e["msg"] for e in outcome.errors)
            assert outcome.describe()
    if record.loc is not None:
        [rejection] = outcomes
        assert isinstance(rejection, Rejection)
        assert [tuple(e["loc"]) for e in rejection.errors] == [record.loc], rejection.errors
    stored = [o.event for o in outcomes if isinstance(o, Accepted)]
    assert {str(e.event_id) for e in stored} == {str(e["event_id"]) for e in record.stored}


def test_the_schema_agrees_with_every_verdict() -> None:
    values = [r.value for r in CORPUS]
    prop.assert_agrees(prop.core_decoder, values)
