"""What `analyze` returns. Paths are relative to the project directory, POSIX style; lines are 1-based."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["low", "medium", "high"]


class LintFinding(BaseModel):
    file: str
    line: int
    column: int
    code: str
    message: str


class FunctionComplexity(BaseModel):
    name: str  # "func", "Class.method", "outer.inner"
    file: str
    line: int
    end_line: int
    complexity: int
    rank: str  # radon's A (1-5) .. F (41+)


class FileMaintainability(BaseModel):
    mi: float  # radon's maintainability index, 0-100
    rank: str  # A (>= 20), B (10-19), C (< 10)


class ScoreBreakdown(BaseModel):
    """The inputs of `quality_score = max(0, 10 - 10 * penalty_points / statements)`."""

    statements: int
    penalty_points: float
    points_by_source: dict[str, float]


class QualityReport(BaseModel):
    lint_findings: int
    lint_by_rule: dict[str, int]
    lint: list[LintFinding]
    average_complexity: float | None  # over functions and methods
    worst_functions: list[FunctionComplexity]  # highest complexity first, up to 10
    maintainability: dict[str, FileMaintainability]
    score: ScoreBreakdown


class CodeSmell(BaseModel):
    # high_complexity | long_function | too_many_parameters | low_maintainability | syntax_error | lint
    type: str
    file: str
    line: int
    message: str


class SecurityIssue(BaseModel):
    issue: str  # a title: "SQL injection"
    severity: Severity
    confidence: Severity
    line: int
    file: str
    recommendation: str
    test_id: str  # bandit's test id, "B608"
    detail: str  # bandit's own text


class TypeErrorDetail(BaseModel):
    file: str
    line: int
    column: int | None = None
    message: str
    code: str | None = None  # mypy's error code, "return-value"


class UntestedFunction(BaseModel):
    name: str
    file: str
    line: int


class ToolFailure(BaseModel):
    tool: str
    message: str


class AnalysisResult(BaseModel):
    analysis_types: list[str]
    files_analysed: int
    lines_analysed: int
    quality_score: float | None = None  # 0-10, None unless "quality" ran and its tools succeeded
    quality: QualityReport | None = None
    code_smells: list[CodeSmell] = Field(default_factory=list)
    security_issues: list[SecurityIssue] = Field(default_factory=list)
    type_errors: int | None = None  # None unless "types" ran and mypy succeeded
    type_error_details: list[TypeErrorDetail] = Field(default_factory=list)
    coverage_percent: float | None = None  # None when there are no tests or they were not run
    tests_passed: int | None = None  # likewise
    tests_failed: int | None = None
    uncovered_lines: dict[str, list[int]] = Field(default_factory=dict)
    untested_functions: list[UntestedFunction] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)
    tool_failures: list[ToolFailure] = Field(default_factory=list)
    skipped_files: list[str] = Field(default_factory=list)  # symlinks and oversized data files
    timings_ms: dict[str, int] = Field(default_factory=dict)
