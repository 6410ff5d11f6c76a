"""`matches` takes a regular expression from the pattern's author; Python's `re` backtracks, so a pattern
such as `(a+)+$` can take exponential time on a short hostile string. We refuse the shapes that cause
that before compiling, conservatively:

- a repetition whose body can itself repeat (`(a+)+`, `(\\w*)*`, `(a{2,})+`): nested quantifiers;
- a repetition over alternatives that may start with the same character (`(a|ab)*`, `(\\d|x)+`);
- backreferences (`(a)\\1`), which `re` can only match by backtracking;
- expressions longer than MAX_REGEX_LENGTH.

What remains can still be polynomial (`\\d+\\d+x`), so the subject is cut to MAX_SUBJECT_LENGTH characters
before searching, which keeps the worst case bounded.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Final

MAX_REGEX_LENGTH: Final = 1000
MAX_SUBJECT_LENGTH: Final = 4096

# `re._parser` is the supported-in-practice parser behind `re`; `sre_parse` warns on import since 3.11
_parser: Any = importlib.import_module("re._parser")
_constants: Any = importlib.import_module("re._constants")
_REPEATS: Final = {_constants.MAX_REPEAT, _constants.MIN_REPEAT}
_UNBOUNDED: Final = _constants.MAXREPEAT
_BACKREFS: Final = {_constants.GROUPREF, _constants.GROUPREF_EXISTS}
_LITERAL: Final = _constants.LITERAL


class UnsafeRegex(ValueError):
    """A regular expression refused by the guard; `expected` says what would be accepted."""

    def __init__(self, message: str, expected: str) -> None:
        super().__init__(message)
        self.expected = expected


def check_regex(source: str) -> re.Pattern[str]:
    """The compiled expression, or UnsafeRegex naming why it is refused."""
    if len(source) > MAX_REGEX_LENGTH:
        raise UnsafeRegex(
            f"regular expression is longer than {MAX_REGEX_LENGTH} characters", "a shorter expression"
        )
    try:
        compiled = re.compile(source)
        tree = _parser.parse(source)
    except (re.error, RecursionError, OverflowError) as error:
        raise UnsafeRegex(f"invalid regular expression: {error}", "a valid regular expression") from None
    _check(list(tree), inside_repeat=False)
    return compiled


def _check(items: list[tuple[Any, Any]], *, inside_repeat: bool) -> None:
    for opcode, argument in items:
        if opcode in _BACKREFS:
            raise UnsafeRegex("backreferences are not allowed in 'matches'", "an expression without \\1")
        if opcode in _REPEATS:
            _low, high, body = argument
            repeats = high == _UNBOUNDED or high > 1
            if repeats and inside_repeat:
                raise UnsafeRegex(
                    "nested quantifiers such as (a+)+ can take exponential time",
                    "an expression without a quantifier inside a repeated group",
                )
            if repeats:
                _check_alternatives(list(body))
            _check(list(body), inside_repeat=inside_repeat or repeats)
        else:
            for nested in _subpatterns(opcode, argument):
                _check(nested, inside_repeat=inside_repeat)


def _subpatterns(opcode: Any, argument: Any) -> list[list[tuple[Any, Any]]]:
    if opcode == _constants.SUBPATTERN:
        return [list(argument[-1])]
    if opcode == _constants.BRANCH:
        return [list(branch) for branch in argument[1]]
    if opcode in (_constants.ASSERT, _constants.ASSERT_NOT):
        return [list(argument[1])]
    if opcode == _constants.ATOMIC_GROUP:
        return [list(argument)]
    return []


def _check_alternatives(body: list[tuple[Any, Any]]) -> None:
    """Alternatives anywhere under a repetition must start with distinct literal characters (`re` folds
    `(a|ab)` into `a(|b)`, so an empty alternative counts as one that may start like any other)."""
    for opcode, argument in body:
        if opcode == _constants.BRANCH:
            seen: set[int] = set()
            for branch in argument[1]:
                first = _first_literal(list(branch))
                if first is None or first in seen:
                    raise UnsafeRegex(
                        "a repeated group whose alternatives can start alike can take exponential time",
                        "alternatives that start with different characters",
                    )
                seen.add(first)
        for nested in _subpatterns(opcode, argument):
            _check_alternatives(nested)


def _first_literal(items: list[tuple[Any, Any]]) -> int | None:
    if not items:
        return None
    opcode, argument = items[0]
    if opcode == _LITERAL:
        return int(argument)
    if opcode == _constants.SUBPATTERN:
        return _first_literal(list(argument[-1]))
    return None
