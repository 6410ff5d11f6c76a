"""One sandboxed process tree: spawn, join its cgroups before it runs, stream capped output, kill on time.

bwrap is started with `--info-fd` (it reports the pid of the namespace's init) and, when cgroups are in use,
`--block-fd` (it waits before running the command). We move that init into the VM's cgroups and then let it
go, so every process of the command is born inside the limits without a `preexec_fn` (unsafe in a threaded
server). Killing the namespace's init makes the kernel kill every process in the pid namespace, which is
how a timeout takes down a whole fork tree.

The process is watched with the event loop's own readers (its pipes, and a pidfd for its exit) rather than
asyncio's subprocess transports: under uvloop, the loop of `pentad serve`, those cost ~3 ms per process
against ~1 ms for a plain `Popen`, which was a third of the exec overhead (docs/sandbox.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
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


class _Watch:
    """The loop readers, writers and fds of one running process, released together."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._readers: set[int] = set()
        self._writers: set[int] = set()

    def read(self, fd: int, callback: Callable[[], None]) -> None:
        os.set_blocking(fd, False)
        self.loop.add_reader(fd, callback)
        self._readers.add(fd)

    def write(self, fd: int, callback: Callable[[], None]) -> None:
        os.set_blocking(fd, False)
        self.loop.add_writer(fd, callback)
        self._writers.add(fd)

    def close(self, fd: int) -> None:
        if fd in self._readers:
            self._readers.discard(fd)
            self.loop.remove_reader(fd)
        if fd in self._writers:
            self._writers.discard(fd)
            self.loop.remove_writer(fd)
        with contextlib.suppress(OSError):
            os.close(fd)

    def close_all(self) -> None:
        for fd in [*self._readers, *self._writers]:
            self.close(fd)


async def _read_info(watch: _Watch, fd: int) -> int | None:
    """The namespace init's pid from bwrap's --info-fd JSON, or None if bwrap exited before cloning."""
    done: asyncio.Future[int | None] = watch.loop.create_future()
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

    watch.read(fd, readable)
    try:
        return await done
    finally:
        watch.close(fd)


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
            # setpriv (util-linux) drops to the VM's uid in the child. Popen's user/group arguments would
            # make it fork instead of vfork, copying the page tables of a server holding a loaded model.
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
        self._process: subprocess.Popen[bytes] | None = None
        self._init_pid: int | None = None
        self.timed_out = False
        self.killed = False

    def kill(self) -> None:
        """SIGKILL the namespace's init (the kernel then kills the whole pid namespace) and bwrap."""
        self.killed = True
        process = self._process
        bwrap = process.pid if process is not None and process.returncode is None else None
        for pid in (self._init_pid, bwrap):
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def _on_timeout(self) -> None:
        self.timed_out = True
        self.kill()

    def _spawn(self) -> tuple[subprocess.Popen[bytes], int, int, int | None]:
        """Start the sandbox; returns the process and the parent's ends of stdout, stderr and stdin."""
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        in_read, in_write = os.pipe() if self._stdin is not None else (None, None)
        child_fds = (self._info_fd[1], *([self._block_fd[0]] if self._block_fd else []))
        parent_ends = [out_read, err_read, self._info_fd[0], *([self._block_fd[1]] if self._block_fd else [])]
        try:
            process = subprocess.Popen(  # noqa: S603 - a fixed argv: bwrap, never a shell
                self._argv,
                stdin=in_read if in_read is not None else subprocess.DEVNULL,
                stdout=out_write,
                stderr=err_write,
                pass_fds=child_fds,
                start_new_session=True,  # signals aimed at the service's process group do not reach it
            )
        except OSError as exc:
            for fd in (*parent_ends, *([in_write] if in_write is not None else [])):
                os.close(fd)
            raise SandboxUnavailable(f"cannot start the sandbox: {exc}") from exc
        finally:
            for fd in (out_write, err_write, *child_fds, *([in_read] if in_read is not None else [])):
                with contextlib.suppress(OSError):
                    os.close(fd)
        return process, out_read, err_read, in_write

    async def _release(self, watch: _Watch) -> None:
        """Learn the init pid, put it into the VM's cgroups, then let bwrap run the command."""
        try:
            self._init_pid = await _read_info(watch, self._info_fd[0])
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

    def _watch_exit(self, watch: _Watch, process: subprocess.Popen[bytes]) -> asyncio.Future[None]:
        """A future that completes when the process exits: its pidfd turns readable (Linux 5.3+)."""
        loop = watch.loop
        try:
            pidfd = os.pidfd_open(process.pid)
        except OSError:  # an older kernel: a thread waits instead
            return asyncio.ensure_future(loop.run_in_executor(None, process.wait))  # type: ignore[arg-type]
        exited: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            watch.close(pidfd)
            if not exited.done():
                exited.set_result(None)

        watch.read(pidfd, readable)
        return exited

    async def events(self) -> AsyncIterator[ExecEvent]:
        loop = asyncio.get_running_loop()
        started = datetime.now(UTC)
        clock = loop.time()
        oom_before = self._oom_counter() if self._oom_counter else 0
        process, out_fd, err_fd, in_fd = self._spawn()
        self._process = process
        watch = _Watch(loop)
        timer = loop.call_later(self._timeout_s, self._on_timeout)
        queue: asyncio.Queue[OutputChunk | None] = asyncio.Queue()
        captured = {"stdout": _Capped(self._cap), "stderr": _Capped(self._cap)}

        def pump(name: Literal["stdout", "stderr"], fd: int) -> Callable[[], None]:
            def readable() -> None:
                try:
                    chunk = os.read(fd, _READ_SIZE)
                except BlockingIOError:
                    return
                except OSError:
                    chunk = b""
                if not chunk:
                    watch.close(fd)
                    queue.put_nowait(None)
                    return
                kept = captured[name].take(chunk)
                if kept:
                    queue.put_nowait(OutputChunk(name, kept))

            return readable

        def feeder(fd: int, data: bytes) -> Callable[[], None]:
            pending = memoryview(data)

            def writable() -> None:
                nonlocal pending
                try:
                    pending = pending[os.write(fd, pending) :]
                except BlockingIOError:
                    return
                except OSError:  # the command closed its stdin: the rest is not wanted
                    pending = pending[len(pending) :]
                if not pending:
                    watch.close(fd)

            return writable

        try:
            watch.read(out_fd, pump("stdout", out_fd))
            watch.read(err_fd, pump("stderr", err_fd))
            exited = self._watch_exit(watch, process)
            await self._release(watch)
            if in_fd is not None:
                assert self._stdin is not None
                watch.write(in_fd, feeder(in_fd, self._stdin))
            open_streams = 2
            while open_streams:
                item = await queue.get()
                if item is None:
                    open_streams -= 1
                else:
                    yield item
            await exited
            returncode = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                self.kill()
                await asyncio.to_thread(process.wait)
            watch.close_all()
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
