"""What analyze refuses before running anything, what it runs per analysis type, how it reports progress,
and how a failing tool is recorded instead of failing the analysis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from pentad.engines.analysis import (
    ANALYSIS_TYPES,
    AnalysisSettings,
    CommandResult,
    InvalidAnalysisRequest,
    InvalidProject,
    LocalCommandRunner,
    ProjectTooLarge,
    UnknownAnalysisType,
    analyze,
)


def test_the_documents_analysis_types() -> None:
    assert frozenset({"quality", "security", "types"}) == ANALYSIS_TYPES


@pytest.mark.parametrize(
    ("types", "error", "message"),
    [
        ({"quality", "performance"}, UnknownAnalysisType, "unknown analysis type(s) 'performance'"),
        (set(), InvalidAnalysisRequest, "choose at least one analysis type"),
        ("quality", InvalidAnalysisRequest, "not one string"),
    ],
)
async def test_bad_analysis_types_are_refused(
    fixture_project: Path, types: set[str] | str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        await analyze(fixture_project, types)
    assert isinstance(caught.value, ValueError)


async def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidProject, match="does not exist"):
        await analyze(tmp_path / "nope", {"quality"})


async def test_a_file_is_not_a_project(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("x = 1\n")
    with pytest.raises(InvalidProject, match="not a directory"):
        await analyze(tmp_path / "x.py", {"quality"})


async def test_no_python_files(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("hello\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "lib.py").write_text("x = 1\n")  # tool directories do not count
    with pytest.raises(InvalidProject, match="has no Python files"):
        await analyze(tmp_path, {"quality"})


async def test_symlinked_project_pointing_outside_is_refused(tmp_path: Path, fixture_project: Path) -> None:
    (tmp_path / "link").symlink_to(fixture_project, target_is_directory=True)
    with pytest.raises(InvalidProject, match="is a symlink"):
        await analyze(tmp_path / "link", {"quality"})


async def test_symlinked_project_within_its_parent_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "m.py").write_text("x = 1\n")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    result = await analyze(tmp_path / "link", {"quality"})
    assert result.files_analysed == 1


async def test_allowed_root(tmp_path: Path, project_copy: Path) -> None:
    with pytest.raises(InvalidProject, match="outside"):
        await analyze(project_copy, {"quality"}, allowed_root=tmp_path / "elsewhere")
    result = await analyze(project_copy, {"security"}, allowed_root=tmp_path)
    assert result.security_issues


async def test_symlinks_inside_the_project_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("password = 'hunter2'\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "m.py").write_text("x = 1\n")
    (project / "leak.py").symlink_to(outside / "secret.py")
    (project / "leakdir").symlink_to(outside, target_is_directory=True)
    result = await analyze(project, {"security"})
    assert result.files_analysed == 1
    assert sorted(result.skipped_files) == ["leak.py", "leakdir"]
    assert result.security_issues == []


async def test_caps_on_files_and_bytes(project_copy: Path) -> None:
    with pytest.raises(ProjectTooLarge, match="more than 3 Python files"):
        await analyze(project_copy, {"quality"}, settings=AnalysisSettings(max_python_files=3))
    with pytest.raises(ProjectTooLarge, match="larger than 100 bytes"):
        await analyze(project_copy, {"quality"}, settings=AnalysisSettings(max_total_bytes=100))


async def test_only_the_requested_types_run(project_copy: Path) -> None:
    result = await analyze(project_copy, {"security"})
    assert set(result.timings_ms) == {"workspace", "bandit"}
    assert result.quality_score is None
    assert result.quality is None
    assert result.type_errors is None
    assert result.coverage_percent is None
    assert result.code_smells == []
    assert [issue.test_id for issue in result.security_issues] == ["B608"]


async def test_no_tests_means_no_coverage(project_copy: Path) -> None:
    for test_file in (project_copy / "tests").iterdir():
        test_file.unlink()
    result = await analyze(project_copy, {"quality"})
    assert "coverage" not in result.timings_ms
    assert result.coverage_percent is None
    assert result.untested_functions == []
    assert "Add tests: the project has no test files (test_*.py or *_test.py)" in result.recommendations


async def test_progress_is_reported_between_tools(project_copy: Path) -> None:
    seen: list[tuple[int, str]] = []

    async def progress(percent: int, step: str) -> None:
        seen.append((percent, step))

    await analyze(project_copy, {"quality", "types"}, progress=progress, run_tests=False)
    percents = [percent for percent, _ in seen]
    assert percents == sorted(percents)
    assert seen[0] == (0, "scan")
    assert seen[-1] == (100, "done")
    assert {step for _, step in seen} >= {"ruff", "radon", "mypy"}

    sync_seen: list[str] = []
    await analyze(project_copy, {"security"}, progress=lambda _p, step: sync_seen.append(step))
    assert sync_seen == ["scan", "parse", "workspace", "bandit", "done"]


class _GarbageRuff(LocalCommandRunner):
    async def run(
        self,
        command: str,
        args: Sequence[str],
        *,
        cwd: str,
        timeout_s: float,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        if list(args[:2]) == ["-m", "ruff"]:
            return CommandResult(exit_code=0, stdout="this is not json", stderr="")
        return await super().run(command, args, cwd=cwd, timeout_s=timeout_s, env=env)


async def test_a_failing_tool_is_recorded_and_the_rest_still_runs(project_copy: Path) -> None:
    result = await analyze(project_copy, {"quality", "security"}, runner=_GarbageRuff(), run_tests=False)
    assert [failure.tool for failure in result.tool_failures] == ["ruff"]
    assert "unexpected output" in result.tool_failures[0].message
    assert result.quality_score is None  # the score needs ruff
    assert any(s.type == "high_complexity" for s in result.code_smells)  # radon still ran
    assert result.security_issues


async def test_a_tool_timeout_is_recorded(project_copy: Path) -> None:
    result = await analyze(project_copy, {"types"}, settings=AnalysisSettings(mypy_timeout_s=0.01))
    assert [(f.tool, f.message) for f in result.tool_failures] == [("mypy", "timed out after 0.01 s")]
    assert result.type_errors is None


async def test_a_failing_test_suite_still_reports_coverage(project_copy: Path) -> None:
    (project_copy / "tests" / "test_fails.py").write_text("def test_fails() -> None:\n    assert 1 == 2\n")
    result = await analyze(project_copy, {"quality"})
    assert result.tool_failures == []
    assert result.coverage_percent is not None


async def test_a_test_suite_that_cannot_be_collected_fails_coverage(project_copy: Path) -> None:
    (project_copy / "tests" / "test_broken.py").write_text("import does_not_exist\n")
    result = await analyze(project_copy, {"quality"})
    assert [f.tool for f in result.tool_failures] == ["coverage"]
    assert "pytest exited with 2" in result.tool_failures[0].message
    assert result.coverage_percent is None
    assert result.quality_score is not None
