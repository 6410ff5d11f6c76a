"""Which patterns an event can possibly match, without running them all.

Each pattern is filed under the equalities it requires: `event.type == "login.failed"` files it under
(type, "login.failed"); `x in ["a", "b"]` under both values; an `||` whose every branch requires a value
of the same field under all of them; a sequence under what either step requires. An event then looks up
the few fields that any pattern is filed under and meets only the patterns in those buckets, plus the
patterns with no usable equality (scanned for every event). The result keeps pattern load order, so
`matched_patterns` is deterministic.
"""

from __future__ import annotations

from collections import abc
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from pentad.engines.goldrush.compiler import CompiledPattern, Event
from pentad.engines.goldrush.nodes import Aggregate, And, Compare, Expr, Literal, Or, Path, Sequence
from pentad.engines.goldrush.values import EVENT_ROOT, Getter, Segment, path_getter, value_key

Term = tuple[tuple[Segment, ...], frozenset[Hashable]]


def _normal(path: Path) -> tuple[Segment, ...]:
    """`event.type` and `type` read the same value; file both under one key."""
    segments = path.segments
    if segments[0] == EVENT_ROOT and len(segments) > 1:
        return segments[1:]
    return segments


def _literal_keys(value: Any) -> frozenset[Hashable] | None:
    values = value if isinstance(value, list) else [value]
    keys = [value_key(item) for item in values]
    if not keys or any(key is None for key in keys):
        return None
    return frozenset(key for key in keys if key is not None)


def _term(node: Expr) -> Term | None:
    if isinstance(node, Compare):
        if node.op == "==" and isinstance(node.left, Path) and isinstance(node.right, Literal):
            path, literal = node.left, node.right
        elif node.op == "==" and isinstance(node.right, Path) and isinstance(node.left, Literal):
            path, literal = node.right, node.left
        elif node.op == "in" and isinstance(node.left, Path) and isinstance(node.right, Literal):
            if not isinstance(node.right.value, list):
                return None
            path, literal = node.left, node.right
        else:
            return None
        if node.op == "==" and isinstance(literal.value, list):
            return None
        found = _literal_keys(literal.value)
        return None if found is None else (_normal(path), found)
    if isinstance(node, And):
        terms = [term for term in map(_term, node.operands) if term is not None]
        if not terms:
            return None
        # the event's type is the field most events differ by; else the narrowest equality
        return min(terms, key=lambda term: (term[0] != ("type",), len(term[1])))
    if isinstance(node, Or):
        branches = [_term(branch) for branch in node.operands]
        first = branches[0]
        if first is None or any(b is None or b[0] != first[0] for b in branches):
            return None
        union: frozenset[Hashable] = frozenset().union(*(b[1] for b in branches if b is not None))
        return (first[0], union)
    return None


def index_terms(tree: Expr) -> list[Term] | None:
    """The terms a pattern is filed under (it is a candidate when any matches); None: always a candidate."""
    if isinstance(tree, Sequence):
        first, then = _term(tree.first), _term(tree.then)
        return None if first is None or then is None else [first, then]
    if isinstance(tree, Aggregate):
        return None
    if isinstance(tree, And):
        rest = tuple(term for term in tree.operands if not isinstance(term, Aggregate))
        tree = rest[0] if len(rest) == 1 else And(rest, tree.position)
    term = _term(tree)
    return None if term is None else [term]


@dataclass(slots=True)
class _Field:
    get: Getter
    buckets: dict[Hashable, list[int]]


class PatternIndex:
    def __init__(self, patterns: Iterable[CompiledPattern]) -> None:
        self.patterns: list[CompiledPattern] = list(patterns)
        self._fields: dict[tuple[Segment, ...], _Field] = {}
        self._always: list[int] = []
        for position, pattern in enumerate(self.patterns):
            terms = index_terms(pattern.tree)
            if terms is None:
                self._always.append(position)
                continue
            for segments, keys in terms:
                field = self._fields.get(segments)
                if field is None:
                    field = self._fields[segments] = _Field(path_getter(segments), {})
                for key in keys:
                    bucket = field.buckets.setdefault(key, [])
                    if not bucket or bucket[-1] != position:
                        bucket.append(position)
        # the common case, every pattern filed under one field (the event type): hand out ready lists
        self._single: dict[Hashable, tuple[CompiledPattern, ...]] | None = None
        self._single_get: Getter | None = None
        if len(self._fields) == 1 and not self._always:
            (field,) = self._fields.values()
            self._single_get = field.get
            self._single = {
                key: tuple(self.patterns[position] for position in bucket)
                for key, bucket in field.buckets.items()
            }

    @property
    def unindexed(self) -> int:
        return len(self._always)

    def candidates(self, event: Event) -> abc.Sequence[CompiledPattern]:
        if self._single is not None and self._single_get is not None:
            key = value_key(self._single_get(event))
            return self._single.get(key, ()) if key is not None else ()
        chosen: set[int] = set(self._always)
        for field in self._fields.values():
            key = value_key(field.get(event))
            if key is not None:
                chosen.update(field.buckets.get(key, ()))
        return [self.patterns[position] for position in sorted(chosen)]
