"""The pieces with no subprocess: the score formula, smells, mypy's text format, bandit advice, test-file
detection, untested functions from coverage data, and the recommendations' order and caps."""

from __future__ import annotations

from pathlib import Path

from pentad.engines.analysis import (
    AnalysisSettings,
    FileMaintainability,
    FunctionComplexity,
    LintFinding,
    SecurityIssue,
    TypeErrorDetail,
    UntestedFunction,
)
from pentad.engines.analysis.project import is_test_file, is_test_support, parse_file
from pentad.engines.analysis.quality import find_smells, score
from pentad.engines.analysis.recommendations import recommend
from pentad.engines.analysis.security import ADVICE, advice_for
from pentad.engines.analysis.testcoverage import CoverageData, untested_functions
from pentad.engines.analysis.typecheck import parse_mypy_output

SOURCE = '''"""Module."""


class Shape:
    def area(self) -> float:
        """Docstring only runs at definition."""
        return 1.0

    def perimeter(self) -> float:
        ...


def outer(a, b, c, d, e, f, g):
    def inner():
        return 1

    return inner()


def not_implemented():
    raise NotImplementedError
'''


def test_parse_file_finds_functions_and_statements(tmp_path: Path) -> None:
    (tmp_path / "shapes.py").write_text(SOURCE)
    parsed = parse_file(tmp_path, "shapes.py")
    names = {f.name: f for f in parsed.functions}
    assert set(names) == {"Shape.area", "Shape.perimeter", "outer", "outer.inner", "not_implemented"}
    assert names["Shape.area"].body_lines == (7,)  # the docstring is not part of the body that runs on call
    assert names["Shape.perimeter"].is_stub
    assert names["not_implemented"].is_stub
    assert names["outer"].parameters == 7
    assert names["Shape.area"].parameters == 0
    assert names["outer.inner"].parent == "outer"
    assert parsed.statements > 8
    assert parsed.lines == SOURCE.count("\n")


def test_parse_file_reports_syntax_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("x = 1\ndef f(:\n")
    parsed = parse_file(tmp_path, "bad.py")
    assert parsed.tree is None
    assert parsed.syntax_error is not None
    assert parsed.syntax_error[0] == 2


def test_score_formula(tmp_path: Path) -> None:
    (tmp_path / "shapes.py").write_text(SOURCE)
    parsed = {"shapes.py": parse_file(tmp_path, "shapes.py")}
    statements = parsed["shapes.py"].statements
    lint = [
        LintFinding(file="shapes.py", line=1, column=1, code="F401", message="unused"),
        LintFinding(file="shapes.py", line=2, column=1, code="F821", message="undefined"),
    ]
    functions = [
        FunctionComplexity(name="outer", file="shapes.py", line=13, end_line=17, complexity=25, rank="D"),
    ]
    maintainability = {"shapes.py": FileMaintainability(mi=15.0, rank="B")}
    settings = AnalysisSettings()
    smells = find_smells(parsed, lint, functions, maintainability, settings)
    value, breakdown = score(parsed, lint, functions, maintainability, smells)
    # 1 (F401) + 5 (F821) + 3 (rank D) + 2 (MI rank B) + 1 (outer has 7 parameters)
    assert breakdown.penalty_points == 12
    assert breakdown.statements == statements
    assert value == round(max(0.0, 10 - 10 * 12 / statements), 2)
    assert {s.type for s in smells} == {
        "lint",
        "high_complexity",
        "low_maintainability",
        "too_many_parameters",
    }

    clean, _ = score(parsed, [], [], {}, [])
    assert clean == 10.0
    hopeless, _ = score(parsed, lint * 50, functions, maintainability, smells)
    assert hopeless == 0.0


def test_long_functions_are_smells(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n    return x0\n")
    parsed = {"long.py": parse_file(tmp_path, "long.py")}
    smells = find_smells(parsed, [], [], {}, AnalysisSettings(long_function_lines=50))
    assert [(s.type, s.line) for s in smells] == [("long_function", 1)]
    assert "62 lines long" in smells[0].message


def test_mypy_text_and_json_formats() -> None:
    text = (
        'app/x.py:5:12: error: Incompatible return value type (got "str", expected "int")  [return-value]\n'
        "app/x.py:5:12: note: some note\n"
        '/ws/app/y.py:3: error: Name "z" is not defined  [name-defined]\n'
        '{"file": "app/z.py", "line": 2, "column": 4, "message": "Bad", "hint": null, "code": "misc", '
        '"severity": "error"}\n'
    )
    errors = parse_mypy_output(text, "/ws")
    assert [(e.file, e.line, e.column, e.code) for e in errors] == [
        ("app/x.py", 5, 12, "return-value"),
        ("app/y.py", 3, None, "name-defined"),
        ("app/z.py", 2, 5, "misc"),
    ]


def test_bandit_advice_table_and_generic_advice() -> None:
    for test_id in ("B608", "B602", "B605", "B301", "B105", "B307"):
        assert test_id in ADVICE
    assert advice_for("B307", "blacklist", "Use of eval").title == "Use of eval"
    generic = advice_for("B999", "some_new_check", "Something risky.")
    assert generic.title == "Some new check"
    assert "Something risky" in generic.recommendation
    assert (
        generic.action.format(where="a.py line 3")
        == "Review the some new check finding (B999) in a.py line 3"
    )


def test_test_file_detection() -> None:
    assert is_test_file("tests/test_app.py")
    assert is_test_file("pkg/app_test.py")
    assert not is_test_file("pkg/testing.py")
    assert not is_test_file("tests/conftest.py")
    assert is_test_support("tests/conftest.py")
    assert is_test_support("tests/helpers.py")
    assert not is_test_support("app/db.py")


def test_untested_functions_from_coverage_data(tmp_path: Path) -> None:
    (tmp_path / "shapes.py").write_text(SOURCE)
    parsed = {"shapes.py": parse_file(tmp_path, "shapes.py")}
    # the module and class bodies ran (import), Shape.area ran; outer and its closure never did
    coverage = CoverageData(
        percent=50.0,
        executed={"shapes.py": frozenset({1, 4, 5, 7, 9, 13, 20})},
        missing={"shapes.py": [14, 15, 17, 21]},
    )
    untested = untested_functions(parsed, coverage)
    # the stubs (perimeter, not_implemented) and the closure of an untested function are not listed
    assert [(f.name, f.line) for f in untested] == [("outer", 13)]


def test_recommendations_order_and_caps() -> None:
    issues = [
        SecurityIssue(
            issue="SQL injection",
            severity="high",
            confidence="medium",
            line=12,
            file="app/db.py",
            recommendation="",
            test_id="B608",
            detail="",
        )
    ]
    untested = [UntestedFunction(name=f"f{i}", file="app/u.py", line=i) for i in range(8)]
    lines = recommend(
        security_issues=issues,
        type_errors=[TypeErrorDetail(file="app/t.py", line=3, message="Bad type")],
        functions=[],
        untested=untested,
        coverage_percent=50.0,
        has_tests=True,
        smells=[],
        lint=[LintFinding(file="a.py", line=1, column=1, code="F401", message="`os` imported but unused")]
        * 2,
        coverage_target=80,
        limit=20,
    )
    assert lines[0] == "Parameterise the SQL query in app/db.py line 12 (high severity)"
    assert lines[1] == "Fix the type error in app/t.py line 3: Bad type"
    assert lines[2:7] == [f"Add tests for function f{i} in app/u.py line {i}" for i in range(5)]
    assert lines[7] == "...and 3 more untested functions"
    assert lines[8] == "Raise test coverage from 50.0% to at least 80%"
    assert lines[9] == "Fix 2 ruff F401 findings (first: a.py line 1, `os` imported but unused)"
    assert (
        len(
            recommend(
                security_issues=issues * 3,
                type_errors=[],
                functions=[],
                untested=untested,
                coverage_percent=None,
                has_tests=None,
                smells=[],
                lint=[],
                coverage_target=80,
                limit=4,
            )
        )
        == 4
    )
