"""AST -> plain Python closures. Nothing of the pattern's text is ever evaluated: each node becomes a small
function over the event, built once when the pattern is loaded.

A pattern splits into three parts (see docs/goldrush.md):
- `condition`: the per-event test (for an aggregate pattern, every `&&` term but the aggregate);
- `aggregate`: `count() > 5 within 5m by ...`, measured over the events that passed `condition`;
- `sequence`: `A then B within 10m by ...`, where A and B are conditions of their own.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pentad.engines.goldrush.nodes import (
    Aggregate,
    And,
    Compare,
    Exists,
    Expr,
    Literal,
    Matches,
    Not,
    Operand,
    Or,
    Path,
    Sequence,
    Truthy,
)
from pentad.engines.goldrush.parser import parse
from pentad.engines.goldrush.regex_guard import MAX_SUBJECT_LENGTH, check_regex
from pentad.engines.goldrush.values import (
    MISSING,
    Getter,
    contains,
    finite_number,
    is_number,
    json_equal,
    ordered,
    path_getter,
)

Event = Mapping[str, Any]
Predicate = Callable[[Event], bool]
_NUMBER_TYPES: Final = (int, float)
_ORDERING: Final[dict[str, Callable[[Any, Any], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _always(event: Event) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class AggregateSpec:
    function: str
    value: Getter | None  # None for count()
    op: str
    threshold: float
    window_seconds: float
    group: Getter | None


@dataclass(frozen=True, slots=True)
class SequenceSpec:
    first: Predicate
    then: Predicate
    window_seconds: float
    group: Getter | None


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    id: str
    name: str
    source: str
    actions: tuple[str, ...]
    tree: Expr
    condition: Predicate
    aggregate: AggregateSpec | None
    sequence: SequenceSpec | None


def compile_pattern(pattern_id: str, name: str, source: str, actions: tuple[str, ...]) -> CompiledPattern:
    """Parse and compile; raises PatternSyntaxError for text that is not a valid pattern."""
    tree = parse(source)
    aggregate: AggregateSpec | None = None
    sequence: SequenceSpec | None = None
    condition: Predicate = _always
    if isinstance(tree, Sequence):
        sequence = SequenceSpec(
            first=compile_condition(tree.first),
            then=compile_condition(tree.then),
            window_seconds=tree.window.seconds,
            group=_group(tree.group),
        )
    elif isinstance(tree, Aggregate):
        aggregate = _aggregate(tree)
    elif isinstance(tree, And) and any(isinstance(term, Aggregate) for term in tree.operands):
        rest = tuple(term for term in tree.operands if not isinstance(term, Aggregate))
        found = next(term for term in tree.operands if isinstance(term, Aggregate))
        aggregate = _aggregate(found)
        condition = compile_condition(rest[0] if len(rest) == 1 else And(rest, tree.position))
    else:
        condition = compile_condition(tree)
    return CompiledPattern(pattern_id, name, source, actions, tree, condition, aggregate, sequence)


def _group(path: Path | None) -> Getter | None:
    return None if path is None else path_getter(path.segments)


def _aggregate(node: Aggregate) -> AggregateSpec:
    return AggregateSpec(
        function=node.function,
        value=None if node.argument is None else path_getter(node.argument.segments),
        op=node.op,
        threshold=float(node.threshold),
        window_seconds=node.window.seconds,
        group=_group(node.group),
    )


def threshold_met(value: float, op: str, threshold: float) -> bool:
    if op == "==":
        return value == threshold
    if op == "!=":
        return value != threshold
    return _ORDERING[op](value, threshold)


def aggregate_value(spec: AggregateSpec, event: Event) -> float | None:
    """What this event adds to its window: 1 for count(), the path's number otherwise (None: it adds
    nothing, because the field is missing or not a finite number)."""
    if spec.value is None:
        return 1.0
    return finite_number(spec.value(event))


def compile_condition(node: Expr) -> Predicate:
    if isinstance(node, Compare):
        return _compare(node)
    if isinstance(node, Matches):
        return _matches(node)
    if isinstance(node, Exists):
        get = path_getter(node.path.segments)
        return lambda event: get(event) is not MISSING
    if isinstance(node, Truthy):
        value = _operand(node.operand)
        return lambda event: value(event) is True
    if isinstance(node, Not):
        inner = compile_condition(node.operand)
        return lambda event: not inner(event)
    if isinstance(node, And):
        return _all_of(tuple(compile_condition(term) for term in node.operands))
    if isinstance(node, Or):
        return _any_of(tuple(compile_condition(term) for term in node.operands))
    # the parser only lets aggregates and sequences appear where compile_pattern takes them apart
    raise TypeError(f"{type(node).__name__} is not a per-event condition")


def _all_of(parts: tuple[Predicate, ...]) -> Predicate:
    # short chains as one expression: no generator, no loop (the common alert rule has 2 to 4 terms)
    if len(parts) == 2:
        a, b = parts
        return lambda event: a(event) and b(event)
    if len(parts) == 3:
        a, b, c = parts
        return lambda event: a(event) and b(event) and c(event)
    if len(parts) == 4:
        a, b, c, d = parts
        return lambda event: a(event) and b(event) and c(event) and d(event)

    def every(event: Event) -> bool:
        for part in parts:
            if not part(event):
                return False
        return True

    return every


def _any_of(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 2:
        a, b = parts
        return lambda event: a(event) or b(event)
    if len(parts) == 3:
        a, b, c = parts
        return lambda event: a(event) or b(event) or c(event)

    def some(event: Event) -> bool:
        for part in parts:
            if part(event):
                return True
        return False

    return some


def _operand(operand: Operand) -> Getter:
    if isinstance(operand, Literal):
        constant = operand.value
        return lambda event: constant
    return path_getter(operand.segments)


def _compare(node: Compare) -> Predicate:
    # fast paths for the overwhelmingly common `path OP literal`
    if isinstance(node.left, Path) and isinstance(node.right, Literal):
        fast = _path_against_literal(node.op, path_getter(node.left.segments), node.right.value)
        if fast is not None:
            return fast
    left, right = _operand(node.left), _operand(node.right)
    op = node.op
    if op == "==":
        return lambda event: json_equal(left(event), right(event))
    if op == "!=":

        def not_equal(event: Event) -> bool:
            a, b = left(event), right(event)
            return a is not MISSING and b is not MISSING and not json_equal(a, b)

        return not_equal
    if op in _ORDERING:
        compare = _ORDERING[op]

        def ordering(event: Event) -> bool:
            a, b = left(event), right(event)
            return ordered(a, b) and bool(compare(a, b))

        return ordering
    if op in ("in", "not in"):
        negate = op == "not in"

        def membership(event: Event) -> bool:
            item, container = left(event), right(event)
            if item is MISSING or not isinstance(container, list):
                return False
            return contains(container, item) != negate

        return membership
    negate = op == "not contains"

    def containment(event: Event) -> bool:
        container, item = left(event), right(event)
        if container is MISSING or item is MISSING:
            return False
        return contains(container, item) != negate

    return containment


def _path_against_literal(op: str, get: Getter, constant: Any) -> Predicate | None:
    if op == "==" and isinstance(constant, str):
        return lambda event: get(event) == constant  # only an equal str equals a str
    if op == "!=" and isinstance(constant, str):

        def string_differs(event: Event) -> bool:
            value = get(event)
            return value is not MISSING and not (isinstance(value, str) and value == constant)

        return string_differs
    if op in _ORDERING and is_number(constant):
        compare = _ORDERING[op]

        def numeric(event: Event) -> bool:
            value = get(event)
            # type() excludes bool, which is not a JSON number
            return type(value) in _NUMBER_TYPES and bool(compare(value, constant))

        return numeric
    if op == "in" and isinstance(constant, list) and all(isinstance(item, str) for item in constant):
        choices = frozenset(constant)
        return lambda event: (
            (value := get(event)) is not MISSING and isinstance(value, str) and value in choices
        )
    return None


def _matches(node: Matches) -> Predicate:
    regex = check_regex(node.regex)
    subject = _operand(node.subject)
    search = regex.search

    def matches(event: Event) -> bool:
        value = subject(event)
        return isinstance(value, str) and search(value[:MAX_SUBJECT_LENGTH]) is not None

    return matches
