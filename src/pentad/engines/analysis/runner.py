"""Where the tools run: the `CommandRunner` port, a local subprocess runner (the default) and an adapter onto
a sandbox VM (`SandboxDriver.exec`), so untrusted projects' tests can run isolated.

A runner does two things: materialise a workspace (a private copy of the project plus the engine's scratch
files) and run an argv in it with a time limit. Commands are argv lists, never shell strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pentad.engines.analysis.errors import WorkspaceFailed
from pentad.engines.analysis.project import ProjectSnapshot

if TYPE_CHECKING:  # only the port's types: importing the sandbox package at runtime is the caller's choice
    from pentad.engines.sandbox.protocol import SandboxDriver

# variables passed through from the host: enough to find programs and decode text, no secrets
_PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR", "TZ")


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    duration_ms: int = 0


class CommandRunner(Protocol):
    python: str  # the interpreter that runs `-m ruff`, `-m mypy`... where the commands run

    def workspace(
        self, snapshot: ProjectSnapshot, extra_files: Mapping[str, bytes]
    ) -> AbstractAsyncContextManager[str]:
        """Copy the snapshot's files plus `extra_files` somewhere the commands see; yield that directory."""
        ...

    async def run(
        self,
        command: str,
        args: Sequence[str],
        *,
        cwd: str,
        timeout_s: float,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult: ...


def _copy_files(snapshot: ProjectSnapshot, target: Path, extra_files: Mapping[str, bytes]) -> None:
    for rel in snapshot.files:
        destination = target / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(snapshot.root / rel, destination)  # contents only: no modes, no symlinks
    for rel, content in extra_files.items():
        destination = target / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(content)


async def _read_capped(stream: asyncio.StreamReader | None, cap: int) -> bytes:
    if stream is None:
        return b""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
    return bytes(kept)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class LocalCommandRunner:
    """Runs tools as local subprocesses on a temporary copy of the project.

    Each command gets its own session (so a timeout kills the whole group, e.g. pytest's children), stdin
    from /dev/null, a minimal environment (no host secrets reach the project's tests) and capped output.
    Running a project's tests executes its code: use `SandboxCommandRunner` for code you do not trust.
    """

    def __init__(
        self,
        *,
        python: str = sys.executable,
        output_cap_bytes: int = 32 * 1024 * 1024,
        temp_dir: str | None = None,
    ) -> None:
        self.python = python
        self.output_cap_bytes = output_cap_bytes
        self.temp_dir = temp_dir

    @asynccontextmanager
    async def workspace(
        self, snapshot: ProjectSnapshot, extra_files: Mapping[str, bytes]
    ) -> AsyncIterator[str]:
        target = Path(tempfile.mkdtemp(prefix="pentad-analysis-", dir=self.temp_dir)).resolve()
        try:
            await asyncio.to_thread(_copy_files, snapshot, target, extra_files)
            yield str(target)
        finally:
            await asyncio.to_thread(shutil.rmtree, target, True)

    def environment(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        env = {key: os.environ[key] for key in _PASSTHROUGH_ENV if key in os.environ}
        env.setdefault("PATH", os.defpath)
        env.setdefault("LANG", "C.UTF-8")
        env.update(
            {
                "HOME": tempfile.gettempdir(),
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONIOENCODING": "utf-8",
                "NO_COLOR": "1",
            }
        )
        env.update(extra or {})
        return env

    async def run(
        self,
        command: str,
        args: Sequence[str],
        *,
        cwd: str,
        timeout_s: float,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            command,
            *args,
            cwd=cwd,
            env=self.environment(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            try:
                stdout, stderr, _ = await asyncio.wait_for(
                    asyncio.gather(
                        _read_capped(process.stdout, self.output_cap_bytes),
                        _read_capped(process.stderr, self.output_cap_bytes),
                        process.wait(),
                    ),
                    timeout_s,
                )
            except TimeoutError:
                timed_out = True
                stdout = stderr = b""
        finally:
            if process.returncode is None:  # timed out, or the analysis was cancelled
                _kill_group(process)
                await process.wait()
        return CommandResult(
            exit_code=process.returncode if process.returncode is not None else -1,
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
            timed_out=timed_out,
            duration_ms=round((time.perf_counter() - started) * 1000),
        )


class SandboxCommandRunner:
    """Runs the tools inside a running sandbox VM through `SandboxDriver.exec`.

    The workspace is sent as a tar stream on stdin to `tar -x` under `workdir_base` in the VM and removed
    afterwards; the VM must have `tar` and a Python (`python`) with ruff, radon, bandit, mypy, coverage
    and pytest installed.
    """

    def __init__(
        self,
        driver: SandboxDriver,
        vm_id: str,
        *,
        python: str = "python3",
        workdir_base: str = "/tmp",  # noqa: S108 - inside the VM, a fresh unique subdirectory
        setup_timeout_s: float = 120,
    ) -> None:
        self.driver = driver
        self.vm_id = vm_id
        self.python = python
        self.workdir_base = workdir_base.rstrip("/") or "/"
        self.setup_timeout_s = setup_timeout_s

    @asynccontextmanager
    async def workspace(
        self, snapshot: ProjectSnapshot, extra_files: Mapping[str, bytes]
    ) -> AsyncIterator[str]:
        workdir = f"{self.workdir_base}/pentad-analysis-{uuid.uuid4().hex}"
        archive = await asyncio.to_thread(_tar, snapshot, extra_files)
        try:
            made = await self.run("mkdir", ["-p", workdir], cwd="/", timeout_s=self.setup_timeout_s)
            if made.exit_code != 0:
                raise WorkspaceFailed(f"cannot create {workdir} in VM {self.vm_id}: {made.stderr.strip()}")
            result = await self.driver.exec(
                self.vm_id,
                "tar",
                ["-x", "-f", "-", "-C", workdir],
                cwd="/",
                timeout_s=self.setup_timeout_s,
                stdin=archive,
            )
            if result.exit_code != 0:
                raise WorkspaceFailed(
                    f"cannot unpack the project in VM {self.vm_id}: {result.stderr.strip()}"
                )
            yield workdir
        finally:
            with contextlib.suppress(Exception):  # the VM may be gone; its files go with it
                await self.run("rm", ["-rf", workdir], cwd="/", timeout_s=self.setup_timeout_s)

    async def run(
        self,
        command: str,
        args: Sequence[str],
        *,
        cwd: str,
        timeout_s: float,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        result = await self.driver.exec(
            self.vm_id,
            command,
            list(args),
            cwd=cwd,
            timeout_s=timeout_s,
            env={"PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1", **(env or {})},
        )
        return CommandResult(
            exit_code=result.exit_code,
            stdout=result.stdout,
            stderr=result.stderr,
            timed_out=result.timed_out,
            duration_ms=result.duration_ms,
        )


class SplitRunner:
    """Static tools on the host, the project's own code in a sandbox VM.

    ruff, radon, bandit and mypy only read the code; `coverage run -m pytest` executes it, and a project
    is untrusted input. So `python -m <module>` for a module in `sandboxed` runs in the VM (with the VM's
    Python), everything else on the host. The project is copied to both places; paths the VM prints are
    mapped back to the host copy, so parsers see one workspace.
    """

    def __init__(
        self,
        host: LocalCommandRunner,
        sandbox: SandboxCommandRunner,
        sandboxed: frozenset[str] = frozenset({"coverage", "pytest"}),
    ) -> None:
        self.host = host
        self.sandbox = sandbox
        self.sandboxed = sandboxed
        self.python = host.python
        self._places: dict[str, str] = {}  # host workspace -> VM workspace

    @asynccontextmanager
    async def workspace(
        self, snapshot: ProjectSnapshot, extra_files: Mapping[str, bytes]
    ) -> AsyncIterator[str]:
        async with (
            self.host.workspace(snapshot, extra_files) as on_host,
            self.sandbox.workspace(snapshot, extra_files) as in_vm,
        ):
            self._places[on_host] = in_vm
            try:
                yield on_host
            finally:
                self._places.pop(on_host, None)

    async def run(
        self,
        command: str,
        args: Sequence[str],
        *,
        cwd: str,
        timeout_s: float,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        in_vm = self._places.get(cwd)
        runs_project = (
            command == self.python and len(args) > 1 and args[0] == "-m" and args[1] in self.sandboxed
        )
        if in_vm is None or not runs_project:
            return await self.host.run(command, args, cwd=cwd, timeout_s=timeout_s, env=env)
        result = await self.sandbox.run(self.sandbox.python, args, cwd=in_vm, timeout_s=timeout_s, env=env)
        return CommandResult(
            exit_code=result.exit_code,
            stdout=result.stdout.replace(in_vm, cwd),
            stderr=result.stderr.replace(in_vm, cwd),
            timed_out=result.timed_out,
            duration_ms=result.duration_ms,
        )


def _tar(snapshot: ProjectSnapshot, extra_files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for rel in snapshot.files:
            data = (snapshot.root / rel).read_bytes()
            _add(archive, rel, data)
        for rel, data in extra_files.items():
            _add(archive, rel, data)
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, rel: str, data: bytes) -> None:
    info = tarfile.TarInfo(rel)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))
