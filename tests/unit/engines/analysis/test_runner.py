"""The runners: local subprocesses (timeouts kill the process group, minimal environment, capped output)
and the adapter onto a sandbox driver's exec, driven here by a host-executing stand-in for a VM."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pentad.engines.analysis import LocalCommandRunner, SandboxCommandRunner, WorkspaceFailed, analyze
from pentad.engines.sandbox.models import ExecResult


async def test_local_runner_runs_an_argv(tmp_path: Path) -> None:
    runner = LocalCommandRunner()
    result = await runner.run(
        sys.executable,
        ["-c", "import os, sys; print(os.getcwd()); sys.exit(3)"],
        cwd=str(tmp_path),
        timeout_s=30,
    )
    assert result.exit_code == 3
    assert result.stdout.strip() == str(tmp_path)
    assert not result.timed_out


async def test_local_runner_timeout_kills_the_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child-alive"
    child = f"import time; time.sleep(1.5); open({str(marker)!r}, 'w').write('x')"
    parent = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"
    )
    runner = LocalCommandRunner()
    started = time.perf_counter()
    result = await runner.run(sys.executable, ["-c", parent], cwd=str(tmp_path), timeout_s=0.5)
    assert result.timed_out
    assert time.perf_counter() - started < 5
    await asyncio.sleep(2)
    assert not marker.exists()  # the grandchild died with the group


async def test_cancelling_a_command_kills_it(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    script = f"import time; time.sleep(1.5); open({str(marker)!r}, 'w').write('x')"
    runner = LocalCommandRunner()
    task = asyncio.create_task(runner.run(sys.executable, ["-c", script], cwd=str(tmp_path), timeout_s=60))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(2)
    assert not marker.exists()


async def test_an_interpreter_that_cannot_start_fails_each_tool(project_copy: Path) -> None:
    runner = LocalCommandRunner(python=str(project_copy / "no-such-python"))
    result = await analyze(project_copy, {"security", "types"}, runner=runner)
    assert [f.tool for f in result.tool_failures] == ["bandit", "mypy"]
    assert all(f.message.startswith("FileNotFoundError") for f in result.tool_failures)
    assert result.type_errors is None


async def test_local_runner_passes_no_host_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PENTAD_TEST_SECRET", "s3cret")
    runner = LocalCommandRunner()
    result = await runner.run(
        sys.executable,
        ["-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        cwd=str(tmp_path),
        timeout_s=30,
        env={"EXTRA": "1"},
    )
    assert "s3cret" not in result.stdout
    assert '"EXTRA": "1"' in result.stdout
    assert '"PYTHONDONTWRITEBYTECODE": "1"' in result.stdout


async def test_local_runner_caps_output(tmp_path: Path) -> None:
    runner = LocalCommandRunner(output_cap_bytes=1000)
    result = await runner.run(sys.executable, ["-c", "print('x' * 100000)"], cwd=str(tmp_path), timeout_s=30)
    assert result.exit_code == 0
    assert len(result.stdout) == 1000


class HostVm:
    """A stand-in SandboxDriver whose one "VM" is the host: exec runs the argv locally. It checks the
    adapter's calls (argv lists, absolute cwd, timeouts) the way the real drivers' ExecRequest does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, list[str], str | None]] = []

    async def exec(
        self,
        vm_id: str,
        command: str,
        args: list[str],
        *,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
    ) -> ExecResult:
        assert isinstance(args, list)
        assert cwd is not None
        assert cwd.startswith("/")
        assert timeout_s is not None
        self.calls.append((vm_id, command, args, cwd))
        started = datetime.now(UTC)
        process = await asyncio.create_subprocess_exec(
            command,
            *args,
            cwd=cwd,
            env={"PATH": os.environ.get("PATH", os.defpath), **(env or {})},
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout_s)
            timed_out = False
        except TimeoutError:
            process.kill()
            await process.wait()
            stdout, stderr, timed_out = b"", b"", True
        completed = datetime.now(UTC)
        return ExecResult(
            exit_code=process.returncode if process.returncode is not None else -1,
            stdout=stdout.decode(),
            stderr=stderr.decode(),
            timed_out=timed_out,
            started_at=started,
            completed_at=completed,
            duration_ms=int((completed - started).total_seconds() * 1000),
        )


async def test_sandbox_runner_analyses_through_driver_exec(project_copy: Path, tmp_path: Path) -> None:
    vm = HostVm()
    vm_root = tmp_path / "vm-tmp"
    vm_root.mkdir()
    runner = SandboxCommandRunner(vm, "vm-1", python=sys.executable, workdir_base=str(vm_root))  # type: ignore[arg-type]
    result = await analyze(project_copy, {"quality", "security"}, runner=runner)
    assert result.tool_failures == []
    assert [(i.test_id, i.file, i.line) for i in result.security_issues] == [("B608", "app/db.py", 17)]
    assert [f.name for f in result.untested_functions] == ["format_report"]
    assert result.quality_score is not None

    commands = [(command, args[:2]) for _, command, args, _ in vm.calls]
    assert commands[0] == ("mkdir", ["-p", commands[0][1][1]])
    assert commands[1][0] == "tar"
    assert commands[-1][0] == "rm"
    workdir = vm.calls[0][2][1]
    assert workdir.startswith(f"{vm_root}/pentad-analysis-")
    assert all(call[0] == "vm-1" for call in vm.calls)
    tool_calls = [call for call in vm.calls if call[1] == sys.executable]
    assert {call[2][1] for call in tool_calls} == {"ruff", "radon", "bandit", "coverage"}
    assert all(call[3] == workdir for call in tool_calls)
    assert list(vm_root.iterdir()) == []  # the workspace was removed from the VM


async def test_sandbox_runner_reports_a_workspace_it_cannot_create(
    project_copy: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    runner = SandboxCommandRunner(HostVm(), "vm-1", python=sys.executable, workdir_base=str(blocker))  # type: ignore[arg-type]
    with pytest.raises(WorkspaceFailed, match="cannot create"):
        await analyze(project_copy, {"security"}, runner=runner)
