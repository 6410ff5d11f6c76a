"""The index hands an event exactly the patterns that could match it: never fewer (checked against the
naive scan over many generated events), and far fewer than all when patterns name a type."""

from __future__ import annotations

import random

from pentad.engines.goldrush.compiler import compile_pattern
from pentad.engines.goldrush.index import PatternIndex, index_terms
from pentad.engines.goldrush.parser import parse

PATTERNS = [
    "event.type == 'login.failed'",
    "type == 'login.failed' && data.ip == '10.0.0.1'",
    "metric.type == 'cpu' && metric.value > 90",
    "event.type in ['a', 'b'] && data.n > 1",
    "event.type == 'a' || event.type == 'c'",
    "event.type == 'a' || data.n == 1",  # branches on different fields: scanned for every event
    "data.n == 1",
    "data.n in [2, 3.0]",
    "!(event.type == 'a')",
    "event.type == 'b' then event.type == 'c' within 1m",
    "event.type == 'b' && count() > 2 within 1m",
    "count() > 1 within 1m",
    "data.flag",
]


def test_terms() -> None:
    assert index_terms(parse("event.type == 'x' && data.y == 1")) == [(("type",), frozenset({("s", "x")}))]
    assert index_terms(parse("data.y == 1 && type == 'x'")) == [(("type",), frozenset({("s", "x")}))]
    assert index_terms(parse("data.ok == true")) == [(("data", "ok"), frozenset({("b", True)}))]
    assert index_terms(parse("event.type != 'x'")) is None
    assert index_terms(parse("data.n > 1")) is None


def test_index_never_loses_a_match() -> None:
    compiled = [compile_pattern(f"p{i}", f"n{i}", text, ()) for i, text in enumerate(PATTERNS)]
    index = PatternIndex(compiled)
    generator = random.Random(7)
    for _ in range(2000):
        event = {
            "type": generator.choice(["a", "b", "c", "metric", "login.failed", "other"]),
            "data": {
                "n": generator.choice([1, 1.0, 2, 3, True, "1", None]),
                "ip": generator.choice(["10.0.0.1", "10.0.0.2"]),
                "type": generator.choice(["cpu", "mem"]),
                "value": generator.choice([50, 95]),
                "flag": generator.choice([True, False]),
            },
        }
        candidates = {pattern.id for pattern in index.candidates(event)}
        for pattern in compiled:
            if pattern.aggregate is None and pattern.sequence is None and pattern.condition(event):
                assert pattern.id in candidates, (pattern.source, event)
            if pattern.sequence is not None and (
                pattern.sequence.first(event) or pattern.sequence.then(event)
            ):
                assert pattern.id in candidates


def test_index_narrows() -> None:
    compiled = [compile_pattern(f"p{i}", f"n{i}", f"event.type == 'type{i}'", ()) for i in range(1000)]
    index = PatternIndex(compiled)
    assert index.unindexed == 0
    assert [pattern.id for pattern in index.candidates({"type": "type500", "data": {}})] == ["p500"]
    assert list(index.candidates({"type": "nothing", "data": {}})) == []
