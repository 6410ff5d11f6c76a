"""QEMU `-M microvm` driver: not usable yet, and says so instead of pretending.

What exists: host checks (qemu binary, kernel, rootfs, whether /dev/kvm can be opened) and the QEMU
command line a VM would get (KVM when it works, else TCG; QMP on a unix socket). What is missing: a guest
agent (an init in the rootfs speaking a small exec protocol over virtio-serial) and the host side of that
protocol, so `create` raises ServiceUnavailable naming what is missing. See docs/sandbox.md.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from pentad.engines.sandbox.errors import SandboxUnavailable
from pentad.engines.sandbox.models import ExecEvent, ExecResult, HostCapabilities, VmInfo, VmSpec
from pentad.engines.sandbox.settings import SandboxSettings

_NOT_IMPLEMENTED = "the guest exec agent (virtio-serial protocol) is not implemented yet"


def kvm_usable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def qemu_argv(settings: SandboxSettings, spec: VmSpec, *, qmp_socket: Path, accelerator: str) -> list[str]:
    """The command line a microVM gets; kept here so the driver's shape is settled and testable."""
    microvm = settings.microvm
    return [
        microvm.qemu_binary,
        "-M",
        "microvm",
        "-accel",
        accelerator,
        "-cpu",
        "max" if accelerator == "tcg" else "host",
        "-smp",
        str(spec.vcpus),
        "-m",
        f"{spec.memory_mb}M",
        "-nodefaults",
        "-no-user-config",
        "-nographic",
        "-kernel",
        str(microvm.kernel_path),
        "-append",
        "console=ttyS0 root=/dev/vda rw quiet",
        "-drive",
        f"id=root,file={microvm.rootfs_path},format=raw,if=none",
        "-device",
        "virtio-blk-device,drive=root",
        "-qmp",
        f"unix:{qmp_socket},server=on,wait=off",
    ]


class MicroVmDriver:
    name = "microvm"

    def __init__(self, settings: SandboxSettings, base_dir: Path) -> None:
        self.settings = settings
        self.base_dir = base_dir

    def missing(self) -> list[str]:
        microvm = self.settings.microvm
        problems = []
        if shutil.which(microvm.qemu_binary) is None:
            problems.append(f"{microvm.qemu_binary} not found (apt-get install qemu-system-x86)")
        if microvm.kernel_path is None or not microvm.kernel_path.is_file():
            problems.append("sandbox.microvm.kernel_path is not set to a kernel image")
        if microvm.rootfs_path is None or not microvm.rootfs_path.is_file():
            problems.append("sandbox.microvm.rootfs_path is not set to a raw rootfs image")
        problems.append(_NOT_IMPLEMENTED)
        return problems

    def accelerator(self) -> str:
        wanted = self.settings.microvm.accelerator
        if wanted != "auto":
            return wanted
        return "kvm" if kvm_usable() else "tcg"

    def capabilities(self) -> HostCapabilities:
        return HostCapabilities(driver=self.name, available=False, detail="; ".join(self.missing()))

    def _unavailable(self) -> SandboxUnavailable:
        return SandboxUnavailable(
            "The microVM driver is not available: " + "; ".join(self.missing()),
            details={"driver": self.name, "missing": self.missing()},
        )

    async def create(self, spec: VmSpec, *, vm_id: str | None = None) -> VmInfo:
        raise self._unavailable()

    async def start(self, vm_id: str) -> VmInfo:
        raise self._unavailable()

    async def stop(self, vm_id: str) -> VmInfo:
        raise self._unavailable()

    async def destroy(self, vm_id: str) -> None:
        raise self._unavailable()

    async def status(self, vm_id: str) -> VmInfo:
        raise self._unavailable()

    async def list_vms(self) -> list[VmInfo]:
        return []

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
        raise self._unavailable()

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
        raise self._unavailable()

    async def close(self) -> None:
        return None
