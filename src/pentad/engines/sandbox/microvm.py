"""The `microvm` driver: each VM is a QEMU `-M microvm` virtual machine with its own kernel.

The guest is a kernel and an initramfs built by `scripts/build-microvm-image` (busybox plus Pentad's
exec agent as /init, `guest/agent.c`); `kernel_path` and `rootfs_path` (the initramfs) come from
`sandbox.microvm`. The host talks to the agent over the VM's serial port, a unix socket in the VM's
directory (`socket_path`), with the line protocol documented in the agent's source and docs/sandbox.md:
argv in hex, output streamed back in hex chunks, then the exit code. The VM has no network device and
sees nothing of the host's files: its only filesystem is the initramfs, in its own RAM.

Acceleration: `accelerator = "auto"` boots with KVM when /dev/kvm opens, and if the guest does not come up
in `kvm_boot_timeout_s` (nested virtualization can hang a guest) falls back to TCG software emulation. That
verdict is kept in the base directory for a day (`kvm_verdict.py`), so restarts do not wait for KVM
again. The VM record and `capabilities()` say which one runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from pentad.core.errors import BadRequest
from pentad.engines.sandbox.errors import SandboxUnavailable, VmNotFound, VmNotRunning
from pentad.engines.sandbox.kvm_verdict import host_fingerprint, kvm_known_broken, remember_kvm_broken
from pentad.engines.sandbox.models import (
    ExecEvent,
    ExecResult,
    HostCapabilities,
    OutputChunk,
    VmInfo,
    VmSpec,
    VmStatus,
)
from pentad.engines.sandbox.settings import SandboxSettings

READY: Final = b"PENTAD READY"
PONG: Final = b"PENTAD PONG"
_PING_EVERY_S = 2.0
KERNEL_ARGS: Final = "console=ttyS0 quiet loglevel=0 panic=-1"
_LINE_LIMIT: Final = 1 << 22  # a frame is one line; the agent's chunks are 2 KiB, so 4 MiB is ample


def kvm_usable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def host_tsc_khz(cpuinfo: Path = Path("/proc/cpuinfo")) -> int | None:
    """The host CPU's rate in kHz as the kernel reports it, or None where it does not."""
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "cpu MHz":
                with contextlib.suppress(ValueError):
                    return round(float(value) * 1000)
    return None


def kernel_args(settings: SandboxSettings, accelerator: str) -> str:
    if accelerator != "tcg":
        return KERNEL_ARGS  # KVM guests get kvmclock
    khz = settings.microvm.tcg_tsc_khz
    if khz is None:
        khz = host_tsc_khz()
    return f"{KERNEL_ARGS} tsc_early_khz={khz}" if khz else KERNEL_ARGS


def qemu_argv(
    settings: SandboxSettings, spec: VmSpec, *, console_socket: Path, qmp_socket: Path, accelerator: str
) -> list[str]:
    microvm = settings.microvm
    return [
        microvm.qemu_binary,
        "-M",
        "microvm",
        "-accel",
        accelerator,
        "-smp",
        str(spec.vcpus),
        "-m",
        f"{spec.memory_mb}M",
        "-nodefaults",
        "-no-user-config",
        "-nographic",
        "-display",
        "none",
        "-no-reboot",
        "-kernel",
        str(microvm.kernel_path),
        "-initrd",
        str(microvm.rootfs_path),
        "-append",
        kernel_args(settings, accelerator),
        "-serial",
        f"unix:{console_socket},server=on,wait=off",
        "-qmp",
        f"unix:{qmp_socket},server=on,wait=off",
    ]


def _hex(data: bytes) -> str:
    return data.hex() or "-"


@dataclass
class _Vm:
    info: VmInfo
    directory: Path
    process: asyncio.subprocess.Process | None = None
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    accelerator: str | None = None


def _qemu_said(vm: _Vm) -> str:
    """The last line QEMU logged for this VM, to say why a boot failed."""
    with contextlib.suppress(OSError):
        lines = (vm.directory / "qemu.log").read_text(errors="replace").strip().splitlines()
        if lines:
            return f" (qemu: {lines[-1][:300]})"
    return ""


class MicroVmDriver:
    name = "microvm"

    def __init__(self, settings: SandboxSettings, base_dir: Path) -> None:
        self.settings = settings
        self.base_dir = base_dir
        self._vms: dict[str, _Vm] = {}
        self._verdict = base_dir / "kvm-verdict.json"
        microvm = settings.microvm
        self._fingerprint = host_fingerprint(microvm.qemu_binary, microvm.kernel_path)
        self._kvm_failed = kvm_known_broken(self._verdict, self._fingerprint, datetime.now(UTC))

    # --- host --------------------------------------------------------------------------------------

    def missing(self) -> list[str]:
        microvm = self.settings.microvm
        problems = []
        if shutil.which(microvm.qemu_binary) is None:
            problems.append(f"{microvm.qemu_binary} not found (apt-get install qemu-system-x86)")
        if microvm.kernel_path is None or not microvm.kernel_path.is_file():
            problems.append(
                "sandbox.microvm.kernel_path is not set to a kernel (scripts/build-microvm-image)"
            )
        if microvm.rootfs_path is None or not microvm.rootfs_path.is_file():
            problems.append("sandbox.microvm.rootfs_path is not set to the guest initramfs")
        return problems

    def accelerator(self) -> str:
        wanted = self.settings.microvm.accelerator
        if wanted != "auto":
            return wanted
        return "kvm" if kvm_usable() and not self._kvm_failed else "tcg"

    def capabilities(self) -> HostCapabilities:
        problems = self.missing()
        if problems:
            return HostCapabilities(driver=self.name, available=False, detail="; ".join(problems))
        accel = self.accelerator()
        detail = f"QEMU microvm with {accel.upper()}" + (
            " (KVM did not boot a guest here)" if self._kvm_failed else ""
        )
        limits = {"memory": f"vm-{accel}", "cpu": f"vm-{accel}", "pids": "vm-kernel"}
        return HostCapabilities(driver=self.name, available=True, detail=detail, limits=limits)

    def _require_available(self) -> None:
        problems = self.missing()
        if problems:
            raise SandboxUnavailable(
                "The microVM driver is not available: " + "; ".join(problems),
                details={"driver": self.name, "missing": problems},
            )

    # --- records -----------------------------------------------------------------------------------

    def _directory(self, vm_id: str) -> Path:
        return self.base_dir / vm_id

    def _save(self, vm: _Vm) -> None:
        (vm.directory / "meta.json").write_text(vm.info.model_dump_json())

    def _load(self, vm_id: str) -> _Vm:
        vm = self._vms.get(vm_id)
        if vm is not None:
            return vm
        try:
            uuid.UUID(vm_id)
        except ValueError:
            raise VmNotFound(vm_id) from None
        meta = self._directory(vm_id) / "meta.json"
        if not meta.is_file():
            raise VmNotFound(vm_id)
        vm = _Vm(VmInfo.model_validate_json(meta.read_text()), self._directory(vm_id))
        self._vms[vm_id] = vm
        return vm

    async def create(self, spec: VmSpec, *, vm_id: str | None = None) -> VmInfo:
        self._require_available()
        if spec.network:
            raise BadRequest("the microvm driver gives VMs no network device", details={"field": "network"})
        if spec.additional_tools or spec.tool_versions:
            raise BadRequest(
                "the microvm guest is busybox only; additional tools need the namespace driver",
                details={"field": "additional_tools"},
            )
        vm_id = vm_id or str(uuid.uuid4())
        directory = self._directory(vm_id)
        directory.mkdir(parents=True, exist_ok=False)
        microvm = self.settings.microvm
        info = VmInfo(
            id=vm_id,
            name=spec.name,
            status=VmStatus.CREATED,
            driver=self.name,
            hostname="pentad-vm",
            vcpu_count=spec.vcpus,
            memory_mb=spec.memory_mb,
            pids_max=spec.pids_max or 0,
            network=False,
            tools=[],
            limits={"memory": "vm", "cpu": "vm"},
            root_path=str(directory),
            kernel_path=str(microvm.kernel_path),
            rootfs_path=str(microvm.rootfs_path),
            socket_path=str(directory / "console.sock"),
            created_at=datetime.now(UTC),
            metadata=dict(spec.metadata),
        )
        vm = _Vm(info, directory)
        self._vms[vm_id] = vm
        self._save(vm)
        return info

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self, vm_id: str) -> VmInfo:
        self._require_available()
        vm = self._load(vm_id)
        if vm.info.status == VmStatus.DESTROYED:
            raise VmNotFound(vm_id)
        if vm.info.status == VmStatus.RUNNING and await self._attached(vm):
            return vm.info
        async with vm.lock:
            accelerator = self.accelerator()
            booted = await self._boot(vm, accelerator)
            if not booted and accelerator == "kvm" and self.settings.microvm.accelerator == "auto":
                self._kvm_failed = True
                booted = await self._boot(vm, "tcg")
                if booted:  # the image is good, so it was KVM that failed: remember it across restarts
                    remember_kvm_broken(self._verdict, self._fingerprint, datetime.now(UTC))
            if not booted:
                raise SandboxUnavailable(
                    f"VM {vm_id} did not boot: the guest agent never reported ready{_qemu_said(vm)}"
                )
            vm.info.status = VmStatus.RUNNING
            vm.info.started_at = datetime.now(UTC)
            vm.info.limits = {"memory": f"vm-{vm.accelerator}", "cpu": f"vm-{vm.accelerator}"}
            vm.info.metadata = {**vm.info.metadata, "accelerator": vm.accelerator}
            self._save(vm)
        return vm.info

    async def _boot(self, vm: _Vm, accelerator: str) -> bool:
        spec = VmSpec(name=vm.info.name, vcpus=vm.info.vcpu_count, memory_mb=vm.info.memory_mb)
        console, qmp = vm.directory / "console.sock", vm.directory / "qmp.sock"
        for stale in (console, qmp):
            stale.unlink(missing_ok=True)
        argv = qemu_argv(self.settings, spec, console_socket=console, qmp_socket=qmp, accelerator=accelerator)
        log = (vm.directory / "qemu.log").open("ab")
        try:
            vm.process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        finally:
            log.close()
        (vm.directory / "qemu.pid").write_text(str(vm.process.pid))
        timeout = (
            self.settings.microvm.kvm_boot_timeout_s
            if accelerator == "kvm"
            else (self.settings.microvm.boot_timeout_s)
        )
        try:
            await asyncio.wait_for(self._connect_and_wait_ready(vm, console), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            await self._kill(vm)
            return False
        vm.accelerator = accelerator
        return True

    async def _connect_and_wait_ready(self, vm: _Vm, console: Path) -> None:
        # QEMU binds the socket file before it listens: a refused connect means "not yet", not "failed"
        while True:
            if vm.process is not None and vm.process.returncode is not None:
                raise OSError("qemu exited before the VM started")
            try:
                vm.reader, vm.writer = await asyncio.open_unix_connection(str(console), limit=_LINE_LIMIT)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                await asyncio.sleep(0.02)
        while True:
            try:
                line = await asyncio.wait_for(vm.reader.readline(), _PING_EVERY_S)
            except TimeoutError:
                # a READY printed before we connected is lost (the console buffers nothing): ask instead
                vm.writer.write(b"PING\n")
                await vm.writer.drain()
                continue
            if not line:
                raise OSError("the VM's console closed before it was ready")
            if line.strip().endswith(READY) or line.strip() == PONG:
                return

    async def _attached(self, vm: _Vm) -> bool:
        """Whether the agent answers: after a restart of Pentad, reconnect to a VM that kept running."""
        try:
            if vm.writer is None or vm.reader is None:
                vm.reader, vm.writer = await asyncio.open_unix_connection(
                    vm.info.socket_path or "", limit=_LINE_LIMIT
                )
            vm.writer.write(b"PING\n")
            await vm.writer.drain()
            while True:
                line = await asyncio.wait_for(vm.reader.readline(), 5)
                if not line:
                    return False
                if line.strip() == PONG:
                    return True
        except (OSError, TimeoutError):
            vm.reader = vm.writer = None
            return False

    async def _kill(self, vm: _Vm) -> None:
        if vm.writer is not None:
            vm.writer.close()
            with contextlib.suppress(Exception):
                await vm.writer.wait_closed()
        vm.reader = vm.writer = None
        pid_file = vm.directory / "qemu.pid"
        pid = vm.process.pid if vm.process is not None else None
        if pid is None and pid_file.is_file():
            pid = int(pid_file.read_text())
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        if vm.process is not None:
            with contextlib.suppress(ProcessLookupError):
                await vm.process.wait()
        vm.process = None
        pid_file.unlink(missing_ok=True)

    async def stop(self, vm_id: str) -> VmInfo:
        vm = self._load(vm_id)
        async with vm.lock:
            await self._kill(vm)  # the guest's state is its RAM: nothing to flush
            vm.info.status = VmStatus.STOPPED
            vm.info.stopped_at = datetime.now(UTC)
            self._save(vm)
        return vm.info

    async def destroy(self, vm_id: str) -> None:
        vm = self._load(vm_id)
        await self._kill(vm)
        vm.info.status = VmStatus.DESTROYED
        self._vms.pop(vm_id, None)
        shutil.rmtree(vm.directory, ignore_errors=True)

    async def status(self, vm_id: str) -> VmInfo:
        return self._load(vm_id).info

    async def list_vms(self) -> list[VmInfo]:
        if not self.base_dir.is_dir():
            return []
        found = []
        for meta in sorted(self.base_dir.glob("*/meta.json")):
            with contextlib.suppress(VmNotFound, ValueError):
                found.append(self._load(meta.parent.name).info)
        return found

    # --- exec --------------------------------------------------------------------------------------

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
        result: ExecResult | None = None
        async for event in self.exec_stream(
            vm_id, command, args, timeout_s=timeout_s, env=env, cwd=cwd, stdin=stdin
        ):
            if isinstance(event, ExecResult):
                result = event
        assert result is not None
        return result

    def exec_stream(
        self,
        vm_id: str,
        command: str,
        args: list[str],
        *,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
    ) -> AsyncIterator[ExecEvent]:
        vm = self._load(vm_id)
        if vm.info.status != VmStatus.RUNNING:
            raise VmNotRunning(vm_id, vm.info.status.value)
        if not command:
            raise BadRequest("command is empty", details={"field": "command"})
        timeout = min(timeout_s or self.settings.default_timeout_s, self.settings.max_timeout_s)
        argv = [command, *args]
        if env:
            argv = ["/bin/env", *(f"{key}={value}" for key, value in env.items()), *argv]
        # cd through a fixed script; the command and its arguments stay argv, never parsed by a shell
        argv = ["/bin/sh", "-c", 'cd -- "$0" && exec "$@"', cwd or "/work", *argv]
        return self._run(vm, argv, timeout, stdin or b"")

    async def _run(self, vm: _Vm, argv: list[str], timeout: float, stdin: bytes) -> AsyncIterator[ExecEvent]:
        cap = self.settings.output_cap_bytes
        async with vm.lock:
            if vm.writer is None or vm.reader is None:
                if not await self._attached(vm):
                    raise VmNotRunning(vm.info.id, "unreachable")
            reader, writer = vm.reader, vm.writer
            if reader is None or writer is None:
                raise VmNotRunning(vm.info.id, "unreachable")
            request_id = uuid.uuid4().hex[:12]
            started = datetime.now(UTC)
            line = f"EXEC {request_id} {int(timeout * 1000)} {_hex(stdin)} " + " ".join(
                _hex(part.encode()) for part in argv
            )
            writer.write(line.encode() + b"\n")
            await writer.drain()
            kept = {"stdout": bytearray(), "stderr": bytearray()}
            seen = {"stdout": 0, "stderr": 0}
            prefix = b"PENTAD "
            while True:
                raw = await asyncio.wait_for(reader.readline(), timeout + 30)
                if not raw:
                    raise VmNotRunning(vm.info.id, "the VM's console closed")
                frame = raw.strip()
                if not frame.startswith(prefix):
                    continue
                parts = frame.decode("ascii", "replace").split(" ")
                if len(parts) < 3 or parts[2] != request_id:
                    continue
                if parts[1] in ("OUT", "ERR") and len(parts) == 4:
                    stream = "stdout" if parts[1] == "OUT" else "stderr"
                    try:
                        data = bytes.fromhex(parts[3])
                    except ValueError:
                        continue
                    seen[stream] += len(data)
                    room = cap - len(kept[stream])
                    if room > 0:
                        piece = data[:room]
                        kept[stream].extend(piece)
                        yield OutputChunk(stream, piece)  # type: ignore[arg-type]
                elif parts[1] == "EXIT" and len(parts) == 5:
                    code, timed_out = int(parts[3]), parts[4] == "1"
                    completed = datetime.now(UTC)
                    yield ExecResult(
                        exit_code=code,
                        signal=code - 128 if code > 128 else None,
                        stdout=kept["stdout"].decode("utf-8", "replace"),
                        stderr=kept["stderr"].decode("utf-8", "replace"),
                        stdout_truncated=seen["stdout"] > len(kept["stdout"]),
                        stderr_truncated=seen["stderr"] > len(kept["stderr"]),
                        stdout_bytes=seen["stdout"],
                        stderr_bytes=seen["stderr"],
                        timed_out=timed_out,
                        started_at=started,
                        completed_at=completed,
                        duration_ms=int((completed - started).total_seconds() * 1000),
                    )
                    return

    async def close(self) -> None:
        """Drop the console connections; the VMs keep running and are re-attached on next use."""
        for vm in self._vms.values():
            if vm.writer is not None:
                vm.writer.close()
            vm.reader = vm.writer = None
