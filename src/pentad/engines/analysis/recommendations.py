"""Recommendations: one actionable line per finding, most urgent first, capped.

Order: security issues (high, medium, low), type errors, complex functions, untested functions, coverage,
other smells, the most frequent ruff rules.
"""

from __future__ import annotations

from collections import defaultdict

from pentad.engines.analysis.models import (
    CodeSmell,
    FunctionComplexity,
    LintFinding,
    SecurityIssue,
    TypeErrorDetail,
    UntestedFunction,
)
from pentad.engines.analysis.quality import COMPLEXITY_POINTS
from pentad.engines.analysis.security import advice_for

MAX_PER_KIND = 5


def _where(file: str, line: int) -> str:
    return f"{file} line {line}"


def _capped(lines: list[str], noun: str) -> list[str]:
    if len(lines) <= MAX_PER_KIND:
        return lines
    return [*lines[:MAX_PER_KIND], f"...and {len(lines) - MAX_PER_KIND} more {noun}"]


def recommend(
    *,
    security_issues: list[SecurityIssue],
    type_errors: list[TypeErrorDetail],
    functions: list[FunctionComplexity],
    untested: list[UntestedFunction],
    coverage_percent: float | None,
    has_tests: bool | None,
    smells: list[CodeSmell],
    lint: list[LintFinding],
    coverage_target: float,
    limit: int,
) -> list[str]:
    out: list[str] = []
    out += _capped(
        [
            advice_for(issue.test_id, issue.issue, issue.detail).action.format(
                where=_where(issue.file, issue.line)
            )
            + f" ({issue.severity} severity)"
            for issue in security_issues
        ],
        "security issues",
    )
    out += _capped(
        [f"Fix the type error in {_where(e.file, e.line)}: {e.message}" for e in type_errors], "type errors"
    )
    complex_functions = sorted(
        (fn for fn in functions if fn.rank in COMPLEXITY_POINTS),
        key=lambda fn: (-fn.complexity, fn.file, fn.line),
    )
    out += _capped(
        [
            f"Reduce the complexity of {fn.name} in {_where(fn.file, fn.line)} (cyclomatic complexity "
            f"{fn.complexity}, rank {fn.rank}): split it into smaller functions"
            for fn in complex_functions
        ],
        "complex functions",
    )
    out += _capped(
        [f"Add tests for function {fn.name} in {_where(fn.file, fn.line)}" for fn in untested],
        "untested functions",
    )
    if has_tests is False:
        out.append("Add tests: the project has no test files (test_*.py or *_test.py)")
    elif coverage_percent is not None and coverage_percent < coverage_target:
        out.append(f"Raise test coverage from {coverage_percent:.1f}% to at least {coverage_target:.0f}%")
    other = [
        s
        for s in smells
        if s.type in ("syntax_error", "long_function", "too_many_parameters", "low_maintainability")
    ]
    out += _capped(
        [f"Fix {s.type.replace('_', ' ')} in {_where(s.file, s.line)}: {s.message}" for s in other], "smells"
    )
    by_rule: dict[str, list[LintFinding]] = defaultdict(list)
    for finding in lint:
        by_rule[finding.code].append(finding)
    ranked = sorted(by_rule.items(), key=lambda item: (-len(item[1]), item[0]))
    out += _capped(
        [
            f"Fix {len(found)} ruff {code} finding{'s' if len(found) > 1 else ''} "
            f"(first: {_where(found[0].file, found[0].line)}, {found[0].message})"
            for code, found in ranked
        ],
        "ruff rules",
    )
    return out[:limit]
