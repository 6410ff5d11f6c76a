"""`analyze`: scan and guard the project, copy it into a runner's workspace, run the tools (at most
`max_parallel_tools` at a time, reporting progress as each finishes), and assemble one `AnalysisResult`.

A tool that fails or times out does not fail the analysis: its fields stay None/empty and the failure is
listed in `tool_failures`. Bad requests raise `InvalidAnalysisRequest` (a ValueError) before anything runs.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pentad.engines.analysis import quality, security, testcoverage, typecheck
from pentad.engines.analysis.errors import InvalidAnalysisRequest, ToolFailed, UnknownAnalysisType
from pentad.engines.analysis.models import (
    AnalysisResult,
    FileMaintainability,
    FunctionComplexity,
    LintFinding,
    ToolFailure,
)
from pentad.engines.analysis.project import ParsedFile, ProjectSnapshot, parse_project, scan_project
from pentad.engines.analysis.recommendations import recommend
from pentad.engines.analysis.runner import CommandRunner, LocalCommandRunner
from pentad.engines.analysis.settings import AnalysisSettings

# the document's `analysis_types` (spec 004): quality also runs the tests for coverage
ANALYSIS_TYPES = frozenset({"quality", "security", "types"})

ProgressCallback = Callable[[int, str], Awaitable[None] | None]


def validate_analysis_types(analysis_types: Iterable[str]) -> set[str]:
    if isinstance(analysis_types, str):
        raise InvalidAnalysisRequest("analysis_types must be a collection of names, not one string")
    requested = set(analysis_types)
    if not requested:
        raise InvalidAnalysisRequest(
            f"choose at least one analysis type: {', '.join(sorted(ANALYSIS_TYPES))}"
        )
    unknown = {str(name) for name in requested if name not in ANALYSIS_TYPES}
    if unknown:
        raise UnknownAnalysisType(unknown, ANALYSIS_TYPES)
    return requested


@dataclass
class _Collected:
    lint: list[LintFinding] | None = None
    functions: list[FunctionComplexity] | None = None
    maintainability: dict[str, FileMaintainability] | None = None
    coverage: testcoverage.CoverageData | None = None
    failures: list[ToolFailure] = field(default_factory=list)
    timings: dict[str, int] = field(default_factory=dict)


async def _report(progress: ProgressCallback | None, percent: int, step: str) -> None:
    if progress is None:
        return
    outcome = progress(percent, step)
    if inspect.isawaitable(outcome):
        await outcome


async def analyze(
    project_dir: str | os.PathLike[str],
    analysis_types: Iterable[str] = ANALYSIS_TYPES,
    *,
    runner: CommandRunner | None = None,
    progress: ProgressCallback | None = None,
    settings: AnalysisSettings | None = None,
    allowed_root: str | os.PathLike[str] | None = None,
    run_tests: bool = True,
) -> AnalysisResult:
    types = validate_analysis_types(analysis_types)
    settings = settings or AnalysisSettings()
    runner = runner or LocalCommandRunner(output_cap_bytes=settings.output_cap_bytes)
    await _report(progress, 0, "scan")
    root = Path(allowed_root) if allowed_root is not None else None
    snapshot = await asyncio.to_thread(scan_project, project_dir, settings, allowed_root=root)
    parsed = await asyncio.to_thread(parse_project, snapshot)
    await _report(progress, 5, "parse")

    result = AnalysisResult(
        analysis_types=sorted(types),
        files_analysed=len(parsed),
        lines_analysed=sum(file.lines for file in parsed.values()),
        skipped_files=list(snapshot.skipped),
    )
    parsable = [rel for rel, file in parsed.items() if file.tree is not None]
    files = list(snapshot.python_files)
    collected = _Collected()
    steps: list[tuple[str, Callable[[str], Awaitable[None]]]] = []

    if "quality" in types:

        async def ruff_step(workspace: str) -> None:
            collected.lint = await quality.run_ruff(runner, workspace, files, settings)

        async def radon_step(workspace: str) -> None:
            collected.functions, collected.maintainability = await quality.run_radon(
                runner, workspace, parsable, settings
            )

        steps += [("ruff", ruff_step), ("radon", radon_step)]
        if run_tests and snapshot.has_tests:

            async def coverage_step(workspace: str) -> None:
                collected.coverage = await testcoverage.run_coverage(runner, workspace, snapshot, settings)

            steps.append(("coverage", coverage_step))
    if "security" in types:

        async def bandit_step(workspace: str) -> None:
            result.security_issues = await security.run_bandit(runner, workspace, parsable, settings)

        steps.append(("bandit", bandit_step))
    if "types" in types:
        src_layout = any(rel.startswith("src/") for rel in parsable)

        async def mypy_step(workspace: str) -> None:
            errors = await typecheck.run_mypy(runner, workspace, parsable, settings, src_layout=src_layout)
            result.type_errors = len(errors)
            result.type_error_details = errors

        steps.append(("mypy", mypy_step))

    await _run_steps(runner, snapshot, steps, parsable, settings, collected, progress)
    _assemble(result, types, parsed, snapshot, collected, settings, run_tests)
    await _report(progress, 100, "done")
    return result


async def _run_steps(
    runner: CommandRunner,
    snapshot: ProjectSnapshot,
    steps: list[tuple[str, Callable[[str], Awaitable[None]]]],
    parsable: list[str],
    settings: AnalysisSettings,
    collected: _Collected,
    progress: ProgressCallback | None,
) -> None:
    if not steps or not parsable:
        for name, _ in steps:
            collected.failures.append(ToolFailure(tool=name, message="no Python file parses"))
        return
    extra_files = {
        typecheck.MYPY_CONFIG: typecheck.MYPY_CONFIG_TEXT,
        testcoverage.COVERAGE_RC: testcoverage.COVERAGE_RC_TEXT,
    }
    gate = asyncio.Semaphore(settings.max_parallel_tools)
    done = 0
    lock = asyncio.Lock()

    async def one(name: str, step: Callable[[str], Awaitable[None]], workspace: str) -> None:
        nonlocal done
        async with gate:
            started = time.perf_counter()
            try:
                await step(workspace)
            except ToolFailed as exc:
                collected.failures.append(ToolFailure(tool=exc.tool, message=exc.message))
            except (
                Exception
            ) as exc:  # a runner error (cannot start, VM gone): this tool fails, not the analysis
                collected.failures.append(ToolFailure(tool=name, message=f"{type(exc).__name__}: {exc}"))
            finally:
                collected.timings[name] = round((time.perf_counter() - started) * 1000)
        async with lock:  # one progress report at a time, in completion order
            done += 1
            await _report(progress, 10 + 85 * done // len(steps), name)

    started = time.perf_counter()
    async with runner.workspace(snapshot, extra_files) as workspace:
        collected.timings["workspace"] = round((time.perf_counter() - started) * 1000)
        await _report(progress, 10, "workspace")
        await asyncio.gather(*(one(name, step, workspace) for name, step in steps))


def _assemble(
    result: AnalysisResult,
    types: set[str],
    parsed: dict[str, ParsedFile],
    snapshot: ProjectSnapshot,
    collected: _Collected,
    settings: AnalysisSettings,
    run_tests: bool,
) -> None:
    result.tool_failures = sorted(collected.failures, key=lambda f: f.tool)
    result.timings_ms = collected.timings
    lint = collected.lint or []
    functions = collected.functions or []
    maintainability = collected.maintainability or {}
    if "quality" in types:
        result.code_smells = quality.find_smells(parsed, lint, functions, maintainability, settings)
        if collected.lint is not None and collected.functions is not None:
            score, breakdown = quality.score(parsed, lint, functions, maintainability, result.code_smells)
            result.quality_score = score
            result.quality = quality.build_report(lint, functions, maintainability, breakdown)
        if collected.coverage is not None:
            result.coverage_percent = collected.coverage.percent
            result.tests_passed = collected.coverage.tests_passed
            result.tests_failed = collected.coverage.tests_failed
            result.uncovered_lines = collected.coverage.missing
            result.untested_functions = testcoverage.untested_functions(parsed, collected.coverage)
    has_tests: bool | None = snapshot.has_tests if "quality" in types and run_tests else None
    result.recommendations = recommend(
        security_issues=result.security_issues,
        type_errors=result.type_error_details,
        functions=functions,
        untested=result.untested_functions,
        coverage_percent=result.coverage_percent,
        has_tests=has_tests,
        smells=result.code_smells,
        lint=lint,
        coverage_target=settings.coverage_target,
        limit=settings.max_recommendations,
    )


@dataclass(frozen=True, slots=True)
class ProjectTestRun:
    passed: int
    failed: int
    coverage_percent: float | None
    error: str | None  # why the tests could not run or report (no tests, collection error, timeout)


async def run_tests(
    project_dir: str | os.PathLike[str],
    *,
    runner: CommandRunner,
    settings: AnalysisSettings | None = None,
    allowed_root: str | os.PathLike[str] | None = None,
) -> ProjectTestRun:
    """The project's tests under coverage, with `runner` (a sandbox VM for untrusted code)."""
    settings = settings or AnalysisSettings()
    root = Path(allowed_root) if allowed_root is not None else None
    snapshot = await asyncio.to_thread(scan_project, project_dir, settings, allowed_root=root)
    if not snapshot.has_tests:
        return ProjectTestRun(0, 0, None, "the project has no tests")
    extra = {testcoverage.COVERAGE_RC: testcoverage.COVERAGE_RC_TEXT}
    try:
        async with runner.workspace(snapshot, extra) as workspace:
            data = await testcoverage.run_coverage(runner, workspace, snapshot, settings)
    except ToolFailed as exc:
        return ProjectTestRun(0, 0, None, exc.message)
    return ProjectTestRun(data.tests_passed, data.tests_failed, data.percent, None)
