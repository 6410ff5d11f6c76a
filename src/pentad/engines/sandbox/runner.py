"""One sandboxed process tree: spawn, join its cgroups before it runs, stream capped output, kill on time.

bwrap is started with `--info-fd` (it reports the pid of the namespace's init) and, when cgroups are in use,
`--block-fd` (it waits before running the command). We move that init into the VM's cgroups and then let it
go, so every process of the command is born inside the limits without a `preexec_fn` (unsafe in a threaded
server). Killing the namespace's init makes the kernel kill every process in the pid namespace, which is
how a timeout takes down a whole fork tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pentad.engines.sandbox.errors import SandboxUnavailable
from pentad.engines.sandbox.models import ExecEvent, ExecResult, OutputChunk

_READ_SIZE = 65536


@dataclass
class _Capped:
    cap: int
    kept: bytearray = field(default_factory=bytearray)
    total: int = 0

    def take(self, data: bytes) -> bytes:
        """The part of `data` kept under the cap; the rest is counted and dropped."""
        self.total += len(data)
        room = self.cap - len(self.kept)
        if room <= 0:
            return b""
        part = data[:room]
        self.kept += part
        return part

    @property
    def truncated(self) -> bool:
        return self.total > len(self.kept)


async def _read_info(fd: int) -> int | None:
    """The namespace init's pid from bwrap's --info-fd JSON, or None if bwrap exited before cloning."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    done: asyncio.Future[int | None] = loop.create_future()
    buffer = bytearray()

    def readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        buffer.extend(chunk)
        try:
            pid = int(json.loads(buffer)["child-pid"])
        except (ValueError, KeyError):
            if not chunk and not done.done():
                done.set_result(None)
            return
        if not done.done():
            done.set_result(pid)

    loop.add_reader(fd, readable)
    try:
        return await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


class Execution:
    def __init__(
        self,
        sandbox_argv: list[str],
        command: list[str],
        *,
        user: int | None,
        group: int | None,
        stdin: bytes | None,
        timeout_s: float,
        output_cap: int,
        on_init: Callable[[int], None] | None,
        oom_counter: Callable[[], int] | None,
    ) -> None:
        self._info_fd = os.pipe()  # (read end, write end)
        self._block_fd = os.pipe() if on_init is not None else None
        fd_args = ["--info-fd", str(self._info_fd[1])]
        if self._block_fd is not None:
            fd_args += ["--block-fd", str(self._block_fd[0])]
        self._argv = [*sandbox_argv, *fd_args, "--", *command]
        if user is not None:
            # setpriv (util-linux) drops to the VM's uid in the child, instead of create_subprocess_exec's
            # user/group arguments, which uvloop (the event loop of `pentad serve`) does not accept
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                raise SandboxUnavailable("the sandbox needs setpriv (util-linux) to drop privileges")
            group_id = group if group is not None else user
            drop = [setpriv, f"--reuid={user}", f"--regid={group_id}", "--clear-groups", "--"]
            self._argv = [*drop, *self._argv]
        self._stdin = stdin
        self._timeout_s = timeout_s
        self._cap = output_cap
        self._on_init = on_init
        self._oom_counter = oom_counter
        self._process: asyncio.subprocess.Process | None = None
        self._init_pid: int | None = None
        self.timed_out = False
        self.killed = False

    def kill(self) -> None:
        """SIGKILL the namespace's init (the kernel then kills the whole pid namespace) and bwrap."""
        self.killed = True
        for pid in (self._init_pid, self._process.pid if self._process else None):
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def _on_timeout(self) -> None:
        self.timed_out = True
        self.kill()

    def _close_child_ends(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._info_fd[1])
        if self._block_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._block_fd[0])

    async def _spawn(self) -> asyncio.subprocess.Process:
        child_fds = (self._info_fd[1], *([self._block_fd[0]] if self._block_fd else []))
        try:
            return await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE if self._stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=child_fds,
                start_new_session=True,  # signals aimed at the service's process group do not reach it
            )
        except OSError as exc:
            for fd in (self._info_fd[0], *([self._block_fd[1]] if self._block_fd else [])):
                os.close(fd)
            raise SandboxUnavailable(f"cannot start the sandbox: {exc}") from exc
        finally:
            self._close_child_ends()

    async def _release(self) -> None:
        """Learn the init pid, put it into the VM's cgroups, then let bwrap run the command."""
        try:
            self._init_pid = await _read_info(self._info_fd[0])
            if self._block_fd is None:
                return
            if self._init_pid is not None and self._on_init is not None:
                try:
                    self._on_init(self._init_pid)
                except OSError as exc:
                    self.kill()  # never run a command outside the limits it was promised
                    raise SandboxUnavailable(f"cannot apply the VM's resource limits: {exc}") from exc
            with contextlib.suppress(OSError):
                os.write(self._block_fd[1], b"1")
        finally:
            if self._block_fd is not None:
                os.close(self._block_fd[1])

    async def events(self) -> AsyncIterator[ExecEvent]:
        loop = asyncio.get_running_loop()
        started = datetime.now(UTC)
        clock = loop.time()
        oom_before = self._oom_counter() if self._oom_counter else 0
        process = self._process = await self._spawn()
        timer = loop.call_later(self._timeout_s, self._on_timeout)
        queue: asyncio.Queue[OutputChunk | None] = asyncio.Queue()
        captured = {"stdout": _Capped(self._cap), "stderr": _Capped(self._cap)}

        async def pump(name: Literal["stdout", "stderr"], reader: asyncio.StreamReader | None) -> None:
            assert reader is not None
            while chunk := await reader.read(_READ_SIZE):
                kept = captured[name].take(chunk)
                if kept:
                    queue.put_nowait(OutputChunk(name, kept))
            queue.put_nowait(None)

        async def feed(data: bytes) -> None:
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                process.stdin.write(data)
                await process.stdin.drain()
                process.stdin.close()

        tasks = [
            asyncio.create_task(pump("stdout", process.stdout)),
            asyncio.create_task(pump("stderr", process.stderr)),
        ]
        try:
            await self._release()
            if self._stdin is not None:
                tasks.append(asyncio.create_task(feed(self._stdin)))
            open_streams = 2
            while open_streams:
                item = await queue.get()
                if item is None:
                    open_streams -= 1
                else:
                    yield item
            returncode = await process.wait()
        finally:
            timer.cancel()
            if process.returncode is None:
                self.kill()
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        completed = datetime.now(UTC)
        # bwrap reports a command killed by signal N as 128+N; when we kill bwrap itself it is -N
        sig = -returncode if returncode < 0 else (returncode - 128 if returncode > 128 else None)
        exit_code = 128 - returncode if returncode < 0 else returncode
        out, err = captured["stdout"], captured["stderr"]
        yield ExecResult(
            exit_code=exit_code,
            signal=sig,
            stdout=out.kept.decode("utf-8", errors="replace"),
            stderr=err.kept.decode("utf-8", errors="replace"),
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
            stdout_bytes=out.total,
            stderr_bytes=err.total,
            timed_out=self.timed_out,
            oom_killed=bool(self._oom_counter and self._oom_counter() > oom_before),
            started_at=started,
            completed_at=completed,
            duration_ms=round((loop.time() - clock) * 1000),
        )
