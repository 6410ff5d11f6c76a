"""A full analysis of the fixture project finds every planted issue at its line (see its README)."""

from __future__ import annotations

from pathlib import Path

from pentad.engines.analysis import AnalysisResult, analyze
from tests.unit.engines.analysis.conftest import FullRun


def test_runs_every_tool_without_failures(full_result: AnalysisResult) -> None:
    assert full_result.tool_failures == []
    assert full_result.analysis_types == ["quality", "security", "types"]
    assert set(full_result.timings_ms) >= {"ruff", "radon", "bandit", "mypy", "coverage"}
    assert full_result.files_analysed == 6
    assert full_result.lines_analysed > 50


def test_sql_injection_found_at_its_line(full_result: AnalysisResult) -> None:
    sql = [issue for issue in full_result.security_issues if issue.test_id == "B608"]
    assert len(sql) == 1
    issue = sql[0]
    assert (issue.file, issue.line) == ("app/db.py", 17)
    assert issue.issue == "SQL injection"
    assert issue.severity in ("low", "medium", "high")
    assert "parameterized" in issue.recommendation
    assert "Parameterise the SQL query in app/db.py line 17 (medium severity)" in full_result.recommendations


def test_no_assert_findings_from_test_files(full_result: AnalysisResult) -> None:
    assert all(issue.test_id != "B101" for issue in full_result.security_issues)


def test_type_error_found_at_its_line(full_result: AnalysisResult) -> None:
    assert full_result.type_errors == 1
    (error,) = full_result.type_error_details
    assert (error.file, error.line, error.code) == ("app/numbers.py", 5, "return-value")
    assert 'got "str", expected "int"' in error.message
    assert any(
        r.startswith("Fix the type error in app/numbers.py line 5") for r in full_result.recommendations
    )


def test_complex_function_is_a_smell(full_result: AnalysisResult) -> None:
    complex_smells = [s for s in full_result.code_smells if s.type == "high_complexity"]
    assert [(s.file, s.line) for s in complex_smells] == [("app/rules.py", 4)]
    assert "shipping_cost" in complex_smells[0].message
    assert full_result.quality is not None
    worst = full_result.quality.worst_functions[0]
    assert (worst.name, worst.file, worst.line, worst.rank) == ("shipping_cost", "app/rules.py", 4, "C")
    assert worst.complexity == 14
    assert any(
        "Reduce the complexity of shipping_cost in app/rules.py line 4" in r
        for r in full_result.recommendations
    )


def test_coverage_and_the_untested_function(full_result: AnalysisResult) -> None:
    assert full_result.coverage_percent is not None
    assert 40 < full_result.coverage_percent < 90
    assert [(f.name, f.file, f.line) for f in full_result.untested_functions] == [
        ("format_report", "app/util.py", 8)
    ]
    assert full_result.uncovered_lines["app/util.py"] == [9, 10, 11]
    assert not any(
        path.startswith("tests/") for path in full_result.uncovered_lines
    )  # tests are not measured
    assert "Add tests for function format_report in app/util.py line 8" in full_result.recommendations


def test_quality_score_and_its_breakdown(full_result: AnalysisResult) -> None:
    assert full_result.quality_score is not None
    assert 0 <= full_result.quality_score <= 10
    assert full_result.quality is not None
    breakdown = full_result.quality.score
    expected = max(0.0, 10 - 10 * breakdown.penalty_points / breakdown.statements)
    assert full_result.quality_score == round(expected, 2)
    assert breakdown.points_by_source["complexity"] == 2.0  # one rank-C function
    assert set(full_result.quality.maintainability) >= {"app/db.py", "app/rules.py"}
    assert full_result.quality.average_complexity is not None


def test_the_project_directory_is_left_untouched(full_run: FullRun) -> None:
    # tools run on a copy: no .coverage, __pycache__, .mypy_cache or .pytest_cache appear in the project
    assert full_run.result.files_analysed
    assert full_run.files_after == full_run.files_before


async def test_score_drops_when_issues_are_added(project_copy: Path) -> None:
    before = await analyze(project_copy, {"quality"}, run_tests=False)
    (project_copy / "app" / "bad.py").write_text(
        "import os\n"
        "import sys\n"
        "\n"
        "\n"
        "def collect(item, bucket=[]):\n"
        "    try:\n"
        "        bucket.append(item)\n"
        "    except:\n"
        "        pass\n"
        "    if item == None:\n"
        "        return undefined_name\n"
        "    return bucket\n"
    )
    after = await analyze(project_copy, {"quality"}, run_tests=False)
    assert before.quality_score is not None
    assert after.quality_score is not None
    assert 0 <= after.quality_score < before.quality_score <= 10
    assert after.quality is not None
    rules = set(after.quality.lint_by_rule)
    assert {"F401", "B006", "E722", "E711", "F821"} <= rules
    smells = {(s.file, s.line, s.message.split()[0]) for s in after.code_smells if s.type == "lint"}
    assert ("app/bad.py", 1, "F401") in smells
    assert ("app/bad.py", 5, "B006") in smells
    assert ("app/bad.py", 11, "F821") in smells
    assert after.quality.score.points_by_source["lint"] >= 5 + 5  # F821 weighs 5


async def test_syntax_errors_are_reported_once_and_other_files_still_checked(project_copy: Path) -> None:
    (project_copy / "app" / "broken.py").write_text("def broken(:\n    pass\n")
    result = await analyze(project_copy, {"quality", "security", "types"}, run_tests=False)
    assert result.tool_failures == []
    assert [(s.file, s.line) for s in result.code_smells if s.type == "syntax_error"] == [
        ("app/broken.py", 1)
    ]
    assert result.type_errors == 1  # mypy still checks the files that parse
    assert any(issue.test_id == "B608" for issue in result.security_issues)
    assert result.quality is not None
    assert all(f.file != "app/broken.py" for f in result.quality.lint)
    assert result.quality.score.points_by_source["syntax_errors"] == 5
