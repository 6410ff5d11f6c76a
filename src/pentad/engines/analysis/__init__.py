"""Code-analysis engine: quality (ruff, radon), security (bandit), types (mypy) and test coverage
(coverage + pytest) over a directory of Python files, each tool a subprocess behind a `CommandRunner`.

engine.py           analyze(project_dir, analysis_types, runner=, progress=, settings=) -> AnalysisResult
project.py          guarded, capped project scan (symlinks, caps) and the ast facts (statements, functions)
runner.py           CommandRunner port; LocalCommandRunner (default), SandboxCommandRunner (a sandbox VM)
quality.py          ruff + radon, code smells, the quality_score formula
security.py         bandit, titles and recommendations per bandit test id
typecheck.py        mypy, isolated from any surrounding configuration
testcoverage.py     coverage run -m pytest, coverage json, untested functions
recommendations.py  the recommendation lines
models.py           AnalysisResult and its parts
settings.py         AnalysisSettings: caps, timeouts, thresholds
"""

from pentad.engines.analysis.engine import (
    ANALYSIS_TYPES,
    ProgressCallback,
    ProjectTestRun,
    analyze,
    run_tests,
    validate_analysis_types,
)
from pentad.engines.analysis.errors import (
    AnalysisError,
    InvalidAnalysisRequest,
    InvalidProject,
    ProjectTooLarge,
    ToolFailed,
    UnknownAnalysisType,
    WorkspaceFailed,
)
from pentad.engines.analysis.models import (
    AnalysisResult,
    CodeSmell,
    FileMaintainability,
    FunctionComplexity,
    LintFinding,
    QualityReport,
    ScoreBreakdown,
    SecurityIssue,
    ToolFailure,
    TypeErrorDetail,
    UntestedFunction,
)
from pentad.engines.analysis.project import ProjectSnapshot
from pentad.engines.analysis.runner import (
    CommandResult,
    CommandRunner,
    LocalCommandRunner,
    SandboxCommandRunner,
    SplitRunner,
)
from pentad.engines.analysis.settings import AnalysisSettings

__all__ = [
    "ANALYSIS_TYPES",
    "AnalysisError",
    "AnalysisResult",
    "AnalysisSettings",
    "CodeSmell",
    "CommandResult",
    "CommandRunner",
    "FileMaintainability",
    "FunctionComplexity",
    "InvalidAnalysisRequest",
    "InvalidProject",
    "LintFinding",
    "LocalCommandRunner",
    "ProgressCallback",
    "ProjectSnapshot",
    "ProjectTestRun",
    "ProjectTooLarge",
    "QualityReport",
    "SandboxCommandRunner",
    "ScoreBreakdown",
    "SecurityIssue",
    "SplitRunner",
    "ToolFailed",
    "ToolFailure",
    "TypeErrorDetail",
    "UnknownAnalysisType",
    "UntestedFunction",
    "WorkspaceFailed",
    "analyze",
    "run_tests",
    "validate_analysis_types",
]
