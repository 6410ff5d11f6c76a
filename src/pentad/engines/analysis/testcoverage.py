"""Coverage: the project's tests under `coverage run -m pytest`, then `coverage json -o -`.

Only the project's own code is measured (`--source=.`), test files, conftest.py and tests/ directories are
omitted, and coverage reads an empty rcfile from the workspace so project or parent config cannot change
what is measured. Failing tests still count (pytest exit 1); a run that collects nothing or errors out
fails the tool. Untested functions come from the coverage data and the ast: a function none of whose body
statements ran. Stubs (`...`, `pass`, `raise NotImplementedError`) and functions nested in an untested
function are not listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, TypeAdapter

from pentad.engines.analysis.errors import ToolFailed
from pentad.engines.analysis.models import UntestedFunction
from pentad.engines.analysis.project import SCRATCH_DIR, ParsedFile, ProjectSnapshot, is_test_support
from pentad.engines.analysis.runner import CommandRunner
from pentad.engines.analysis.settings import AnalysisSettings
from pentad.engines.analysis.tools import normalise_path, parse_json, run_tool, tail

COVERAGE_RC = f"{SCRATCH_DIR}/coveragerc"
COVERAGE_RC_TEXT = b"[run]\n"
COVERAGE_DATA = f"{SCRATCH_DIR}/coverage.data"
_PYTEST_OK = (0, 1)  # all passed / some failed; 2-5 are interrupted, internal error, usage, no tests


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Totals(_Loose):
    percent_covered: float


class _FileCoverage(_Loose):
    executed_lines: list[int]
    missing_lines: list[int]


class _CoverageJson(_Loose):
    files: dict[str, _FileCoverage]
    totals: _Totals


_COVERAGE = TypeAdapter(_CoverageJson)


@dataclass(frozen=True, slots=True)
class CoverageData:
    percent: float
    executed: dict[str, frozenset[int]]
    missing: dict[str, list[int]]
    tests_passed: int = 0
    tests_failed: int = 0  # failed plus errored


_SUMMARY = re.compile(r"(\d+) (passed|failed|errors?)\b")


def test_counts(pytest_output: str) -> tuple[int, int]:
    """(passed, failed or errored) from pytest's closing summary line ("3 passed, 1 failed in 0.2s")."""
    lines = [line for line in pytest_output.strip().splitlines() if line.strip()]
    summary = lines[-1] if lines else ""
    counts = {"passed": 0, "failed": 0}
    for number, word in _SUMMARY.findall(summary):
        counts["passed" if word == "passed" else "failed"] += int(number)
    return counts["passed"], counts["failed"]


async def run_coverage(
    runner: CommandRunner, workspace: str, snapshot: ProjectSnapshot, settings: AnalysisSettings
) -> CoverageData:
    omit = sorted(rel for rel in snapshot.python_files if is_test_support(rel))
    common = ["--rcfile", COVERAGE_RC, "--data-file", COVERAGE_DATA]
    run_args = ["coverage", "run", *common, "--source", "."]
    if omit:
        run_args += ["--omit", ",".join(omit)]
    run_args += ["-m", "pytest", "-q", "-p", "no:cacheprovider"]
    tests = await runner.run(
        runner.python, ["-m", *run_args], cwd=workspace, timeout_s=settings.coverage_timeout_s
    )
    if tests.timed_out:
        raise ToolFailed("coverage", f"the tests timed out after {settings.coverage_timeout_s:g} s")
    if tests.exit_code not in _PYTEST_OK:
        raise ToolFailed(
            "coverage", f"pytest exited with {tests.exit_code}: {tail(tests.stdout) or tail(tests.stderr)}"
        )
    report = await run_tool(
        runner,
        "coverage",
        ["coverage", "json", *common, "-o", "-"],
        cwd=workspace,
        timeout_s=settings.coverage_timeout_s,
        ok_codes=(0,),
    )
    data = parse_json("coverage", _COVERAGE, report.stdout)
    executed: dict[str, frozenset[int]] = {}
    missing: dict[str, list[int]] = {}
    for path, item in data.files.items():
        rel = normalise_path(path, workspace)
        executed[rel] = frozenset(item.executed_lines)
        if item.missing_lines:
            missing[rel] = sorted(item.missing_lines)
    passed, failed = test_counts(tests.stdout)
    return CoverageData(
        round(data.totals.percent_covered, 2), executed, dict(sorted(missing.items())), passed, failed
    )


def untested_functions(parsed: dict[str, ParsedFile], coverage: CoverageData) -> list[UntestedFunction]:
    untested: list[UntestedFunction] = []
    for rel, file in sorted(parsed.items()):
        ran = coverage.executed.get(rel)
        if ran is None or is_test_support(rel):
            continue  # not measured
        measured = ran | frozenset(coverage.missing.get(rel, ()))
        names: set[str] = set()
        for function in file.functions:
            body = set(function.body_lines) & measured
            if function.is_stub or not body or body & ran:
                continue
            names.add(function.name)
            if function.parent is not None and function.parent in names:
                continue
            untested.append(UntestedFunction(name=function.name, file=rel, line=function.line))
    return untested
