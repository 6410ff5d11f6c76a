"""Event values: how a pattern path finds its value in a posted event, and the JSON comparison rules.

Roots. The first segment of a path names where in the posted body it starts:
  `event`            the whole posted body (`event.type`, `event.data.success`, `event.metadata.source`);
  a top-level key    that key of the body (`type`, `data.value`, `metadata.source`);
  the event's type   the body's `data` when the body's `type` equals the root, so `metric.value` reads
                     `data.value` of `{"type": "metric", "data": {...}}` and is missing on other events.
Further segments step into objects by key and into lists by 0-based index. A path that leads nowhere
yields MISSING, which makes every comparison false (never an error).

Values compare as JSON: booleans are not numbers (`1 == true` is false), ints and floats compare by value,
ordering (`<`, `>`, ...) applies to two numbers or two strings only, anything else is simply false.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final

EVENT_ROOT: Final = "event"
Segment = str | int
Getter = Callable[[Mapping[str, Any]], Any]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()
NUMBER_TYPES: Final = (int, float)


def is_number(value: Any) -> bool:
    return type(value) in NUMBER_TYPES or (isinstance(value, NUMBER_TYPES) and not isinstance(value, bool))


def finite_number(value: Any) -> float | None:
    """The value as a float when it is a real, finite JSON number (booleans are not numbers)."""
    if is_number(value) and math.isfinite(value):
        return float(value)
    return None


def resolve_root(event: Mapping[str, Any], root: str) -> Any:
    if root == EVENT_ROOT:
        return event
    if root in event:
        return event[root]
    if event.get("type") == root:
        return event.get("data", MISSING)
    return MISSING


def step(value: Any, segment: Segment) -> Any:
    if type(value) is dict:  # parsed JSON: skip the slower abstract-class check
        return value.get(segment if isinstance(segment, str) else str(segment), MISSING)
    if isinstance(value, Mapping):
        return value.get(segment if isinstance(segment, str) else str(segment), MISSING)
    if isinstance(value, list | tuple) and isinstance(segment, int) and 0 <= segment < len(value):
        return value[segment]
    return MISSING


def path_getter(segments: tuple[Segment, ...]) -> Getter:
    """A closure reading one path from an event; MISSING when the path leads nowhere."""
    root = segments[0]
    assert isinstance(root, str)
    rest = segments[1:]
    if not rest:
        return lambda event: resolve_root(event, root)
    if len(rest) == 1:
        only = rest[0]
        return lambda event: step(resolve_root(event, root), only)

    def get(event: Mapping[str, Any]) -> Any:
        value = resolve_root(event, root)
        for segment in rest:
            value = step(value, segment)
            if value is MISSING:
                break
        return value

    return get


def json_equal(left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return False
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if is_number(left) and is_number(right):
        return bool(left == right)
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if left is None or right is None:
        return left is right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    return False


def ordered(left: Any, right: Any) -> bool:
    """True when `<`, `>`, ... may compare the two values: two numbers or two strings."""
    if is_number(left):
        return is_number(right)
    return isinstance(left, str) and isinstance(right, str)


def contains(container: Any, item: Any) -> bool:
    """`container contains item`: a substring of a string, an element of a list, a key of an object."""
    if item is MISSING:
        return False
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple):
        return any(json_equal(element, item) for element in container)
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    return False


def value_key(value: Any) -> Hashable | None:
    """A hashable key under which equal JSON scalars meet (`1` and `1.0` do, `1` and `true` do not);
    None for values no index bucket holds (lists, objects, MISSING)."""
    if type(value) is str:  # the usual case, an event type
        return ("s", value)
    if isinstance(value, bool):
        return ("b", value)
    if is_number(value):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z", None)
    return None
