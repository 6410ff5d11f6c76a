"""The pattern AST. Every node keeps the offset of its first character in the pattern text.

`And` and `Or` are n-ary and flat, so a long chain of conditions is one node, not a deep tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pentad.engines.goldrush.values import Segment

AGGREGATE_FUNCTIONS = frozenset({"count", "sum", "avg", "min", "max"})
COMPARISONS = frozenset({"==", "!=", ">", ">=", "<", "<="})
MEMBERSHIPS = frozenset({"in", "not in", "contains", "not contains"})


@dataclass(frozen=True, slots=True)
class Path:
    segments: tuple[Segment, ...]
    position: int

    @property
    def text(self) -> str:
        parts = [str(self.segments[0])]
        for segment in self.segments[1:]:
            if isinstance(segment, int) or segment.isidentifier():
                parts.append(f".{segment}")
            else:
                parts.append(f"[{segment!r}]")
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any  # a JSON value: str, int, float, bool, None or a list of those
    position: int


Operand = Path | Literal


@dataclass(frozen=True, slots=True)
class Duration:
    seconds: float
    text: str
    position: int


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # one of COMPARISONS or MEMBERSHIPS
    left: Operand
    right: Operand
    position: int


@dataclass(frozen=True, slots=True)
class Matches:
    subject: Operand
    regex: str
    position: int


@dataclass(frozen=True, slots=True)
class Exists:
    path: Path
    position: int


@dataclass(frozen=True, slots=True)
class Truthy:
    """A bare value used as a condition: true only when the value is JSON `true`."""

    operand: Operand
    position: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    position: int


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Aggregate:
    function: str  # one of AGGREGATE_FUNCTIONS
    argument: Path | None  # None for count()
    op: str  # one of COMPARISONS
    threshold: int | float
    window: Duration
    group: Path | None
    position: int


@dataclass(frozen=True, slots=True)
class Sequence:
    first: Expr
    then: Expr
    window: Duration
    group: Path | None
    position: int


Expr = Compare | Matches | Exists | Truthy | Not | And | Or | Aggregate | Sequence


def children(node: Expr) -> tuple[Expr, ...]:
    if isinstance(node, And | Or):
        return node.operands
    if isinstance(node, Not):
        return (node.operand,)
    if isinstance(node, Sequence):
        return (node.first, node.then)
    return ()


def walk(node: Expr) -> list[Expr]:
    """Every node under `node`, itself first (iterative: the parser bounds depth, this needs no stack)."""
    found: list[Expr] = []
    stack = [node]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(reversed(children(current)))
    return found
