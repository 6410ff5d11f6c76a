"""The fixture project (tests/fixtures/analysis_project) and one full analysis of it, shared by the tests
that only read the result (each tool run costs a second or more)."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from pentad.engines.analysis import AnalysisResult, analyze

FIXTURE_PROJECT = Path(__file__).resolve().parents[3] / "fixtures" / "analysis_project"
ALL_TYPES = {"quality", "security", "types"}


@pytest.fixture(scope="session")
def fixture_project() -> Path:
    assert (FIXTURE_PROJECT / "app" / "db.py").is_file()
    return FIXTURE_PROJECT


@dataclass(frozen=True)
class FullRun:
    result: AnalysisResult
    files_before: list[str]
    files_after: list[str]


def _listing(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*"))


@pytest.fixture(scope="session")
def full_run(fixture_project: Path) -> FullRun:
    before = _listing(fixture_project)
    # a sync session fixture: asyncio.run gives the analysis its own loop, outside the tests' loops
    result = asyncio.run(analyze(fixture_project, ALL_TYPES))
    return FullRun(result, before, _listing(fixture_project))


@pytest.fixture(scope="session")
def full_result(full_run: FullRun) -> AnalysisResult:
    return full_run.result


@pytest.fixture
def project_copy(tmp_path: Path, fixture_project: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(fixture_project, target)
    return target
