"""The pattern language: the document's examples, each operator's JSON semantics, and error positions."""

from __future__ import annotations

from typing import Any

import pytest

from pentad.engines.goldrush.compiler import compile_pattern
from pentad.engines.goldrush.errors import PatternSyntaxError
from pentad.engines.goldrush.nodes import Aggregate, And, Sequence
from pentad.engines.goldrush.parser import parse

SPEC_METRIC = {
    "type": "metric",
    "data": {"type": "cpu", "value": 95, "host": "server-01"},
    "metadata": {"timestamp": "2024-01-15T10:30:00Z", "source": "monitoring-agent"},
}


def matches(pattern: str, event: dict[str, Any]) -> bool:
    compiled = compile_pattern("pat_test", "test", pattern, ())
    assert compiled.aggregate is None
    assert compiled.sequence is None
    return compiled.condition(event)


def test_spec_login_pattern() -> None:
    pattern = "event.type == 'user.login' && event.data.success == true"
    assert matches(pattern, {"type": "user.login", "data": {"success": True}})
    assert not matches(pattern, {"type": "user.login", "data": {"success": False}})
    assert not matches(pattern, {"type": "user.login", "data": {"success": "true"}})  # a string is not true
    assert not matches(pattern, {"type": "user.logout", "data": {"success": True}})


def test_spec_metric_pattern_reads_the_events_data_through_its_type() -> None:
    pattern = "metric.type == 'cpu' && metric.value > 90"
    assert matches(pattern, SPEC_METRIC)
    assert not matches(pattern, {**SPEC_METRIC, "data": {"type": "cpu", "value": 90}})
    assert not matches(pattern, {**SPEC_METRIC, "data": {"type": "memory", "value": 95}})
    # `metric.` only names an event whose type is metric
    assert not matches(pattern, {**SPEC_METRIC, "type": "other"})


@pytest.mark.parametrize(
    ("pattern", "function", "threshold", "window"),
    [
        ('event.type == "login.failed" && count() > 5 within 5m', "count", 5, 300),
        ('event.type == "error" && count() > 100 within 1m', "count", 100, 60),
        ("sum(event.data.bytes) >= 1e6 within 1h by event.data.ip", "sum", 1e6, 3600),
        ("avg(metric.value) > 80 within 30s", "avg", 80, 30),
        ("type == 'x' and max(data.v) <= 2.5 within 1d", "max", 2.5, 86400),
    ],
)
def test_aggregates_parse(pattern: str, function: str, threshold: float, window: float) -> None:
    compiled = compile_pattern("pat_a", "a", pattern, ())
    assert compiled.aggregate is not None
    assert compiled.aggregate.function == function
    assert compiled.aggregate.threshold == threshold
    assert compiled.aggregate.window_seconds == window


def test_sequence_parses_with_group() -> None:
    tree = parse(
        'event.type == "login.failed" then event.type == "login.success" within 10m by event.data.user'
    )
    assert isinstance(tree, Sequence)
    assert tree.window.seconds == 600
    assert tree.group is not None
    assert tree.group.text == "event.data.user"


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ("data.n == 1", {"data": {"n": 1.0}}, True),
        ("data.n == true", {"data": {"n": 1}}, False),  # booleans are not numbers
        ("data.n > 1", {"data": {"n": "2"}}, False),  # no ordering across types
        ("data.s < 'b'", {"data": {"s": "a"}}, True),
        ("data.n != 1", {"data": {}}, False),  # a missing field satisfies no comparison
        ("!(data.n == 1)", {"data": {}}, True),
        ("data.n != 1", {"data": {"n": 2}}, True),
        ("data.tags contains 'x'", {"data": {"tags": ["y", "x"]}}, True),
        ("data.msg contains 'disk'", {"data": {"msg": "disk full"}}, True),
        ("data.obj contains 'k'", {"data": {"obj": {"k": 1}}}, True),
        ("data.c in ['us', 'ca']", {"data": {"c": "ca"}}, True),
        ("data.c in [1, 2]", {"data": {"c": 2.0}}, True),
        ("data.c not in ['us', 'ca']", {"data": {"c": "fr"}}, True),
        ("data.c not in ['us', 'ca']", {"data": {}}, False),
        ("data.m matches '^disk [0-9]+%$'", {"data": {"m": "disk 93%"}}, True),
        ("data.m matches 'full'", {"data": {"m": 3}}, False),
        ("exists(data.user.id)", {"data": {"user": {"id": None}}}, True),
        ("exists(data.user.id)", {"data": {"user": {}}}, False),
        ("data.items.1.name == 'b'", {"data": {"items": [{"name": "a"}, {"name": "b"}]}}, True),
        ("data['odd key'] == null", {"data": {"odd key": None}}, True),
        ("data.flag", {"data": {"flag": True}}, True),
        ("data.flag", {"data": {"flag": 1}}, False),
        ("type == 'a' || type == 'b' && data.x == 1", {"type": "a", "data": {}}, True),  # && binds tighter
        ("(type == 'a' || type == 'b') && data.x == 1", {"type": "a", "data": {}}, False),
        ("not type == 'a' or data.x == 1", {"type": "b"}, True),
        ("metadata.source == 'agent'", {"type": "t", "metadata": {"source": "agent"}}, True),
        ("data.s == 'it\\'s'", {"data": {"s": "it's"}}, True),
        ('data.s == "tab\\there"', {"data": {"s": "tab\there"}}, True),
        ("data.n >= -3.5", {"data": {"n": -3}}, True),
    ],
)
def test_semantics(pattern: str, event: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, event) is expected


@pytest.mark.parametrize(
    ("pattern", "position", "expected"),
    [
        ("event.type = 'x'", 11, "'=='"),
        ("event.type == ", 14, "a value"),
        ("event.type == 'x' &&", 20, "a value"),
        ("(event.type == 'x'", 18, "')'"),
        ("event.type == 'x", 14, "a closing '"),
        ("count() > 5", 11, "'within'"),
        ("count() > 5 within 5w", 20, "a digit, or a duration unit s, m, h or d"),
        ("count() > 5 within 0s", 19, "a duration above 0 and at most 31d"),
        ("event.type == 'x' || count() > 1 within 1m", 21, "an aggregate as a top-level '&&' term"),
        ("frobnicate(x)", 0, "exists, count, sum, avg, min or max"),
        ("data.m matches '(a+)+$'", 15, "an expression without a quantifier inside a repeated group"),
        ("data.m matches '(a|ab)*c'", 15, "alternatives that start with different characters"),
        ("data.m matches '(a)\\1'", 15, "an expression without \\1"),
        ("data.m matches '[unclosed'", 15, "a valid regular expression"),
        ("", 0, "a condition"),
        ("type == 'a' then type == 'b'", 28, "'within'"),
    ],
)
def test_errors_say_where_and_what(pattern: str, position: int, expected: str) -> None:
    with pytest.raises(PatternSyntaxError) as caught:
        parse(pattern)
    assert caught.value.position == position
    assert caught.value.expected == expected


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(PatternSyntaxError) as caught:
        parse("(" * 500 + "type == 'a'" + ")" * 500)
    assert "nesting" in caught.value.message
    # long flat chains are fine: And is n-ary
    tree = parse(" && ".join(f"data.f{i} == {i}" for i in range(500)))
    assert isinstance(tree, And)
    assert len(tree.operands) == 500


def test_aggregate_is_split_from_its_condition() -> None:
    compiled = compile_pattern(
        "p", "n", "event.type == 'e' && data.level == 'x' && count() > 2 within 10s", ()
    )
    assert isinstance(compiled.tree, And)
    assert any(isinstance(term, Aggregate) for term in compiled.tree.operands)
    assert compiled.condition({"type": "e", "data": {"level": "x"}})
    assert not compiled.condition({"type": "e", "data": {"level": "y"}})
