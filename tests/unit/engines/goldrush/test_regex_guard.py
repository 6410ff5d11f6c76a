"""`matches` accepts the everyday expressions and refuses the shapes that backtrack exponentially."""

from __future__ import annotations

import pytest

from pentad.engines.goldrush.regex_guard import MAX_REGEX_LENGTH, UnsafeRegex, check_regex


@pytest.mark.parametrize(
    "source",
    [
        r"^disk [0-9]+%$",
        r"(foo|bar)+",
        r"\d{3}-\d{4}",
        r"[a-z0-9._-]+@[a-z0-9.-]+\.com$",
        r"(?i)error|fatal",
        r"^(GET|POST|PUT) /api/",
        r"(ab){2,5}",
        r"(?=x)x+",
        r"(\d|x)+",  # re folds this into one character class: nothing to backtrack over
    ],
)
def test_everyday_expressions_pass(source: str) -> None:
    assert check_regex(source).pattern == source


@pytest.mark.parametrize(
    "source",
    [r"(a+)+$", r"(\w*)*", r"(a{2,})+", r"((ab)*c)+", r"(a|a)*", r"(a|ab)*c", r"(.*a){20}"],
)
def test_catastrophic_shapes_are_refused(source: str) -> None:
    with pytest.raises(UnsafeRegex):
        check_regex(source)


def test_limits_and_invalid_syntax() -> None:
    with pytest.raises(UnsafeRegex, match="longer than"):
        check_regex("a" * (MAX_REGEX_LENGTH + 1))
    with pytest.raises(UnsafeRegex, match="invalid regular expression"):
        check_regex("(")
    with pytest.raises(UnsafeRegex, match="backreferences"):
        check_regex(r"(a)\1")
