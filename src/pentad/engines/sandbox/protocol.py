"""The port every sandbox driver implements; the API, jobs and tests depend on this, never on a driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from pentad.engines.sandbox.models import ExecEvent, ExecResult, HostCapabilities, VmInfo, VmSpec


class SandboxDriver(Protocol):
    name: str

    def capabilities(self) -> HostCapabilities:
        """What this host really enforces; truthful, so the API can show it."""
        ...

    async def create(self, spec: VmSpec, *, vm_id: str | None = None) -> VmInfo:
        """Prepare the VM (status `created`); `vm_id` lets the caller reuse its own record's UUID."""
        ...

    async def start(self, vm_id: str) -> VmInfo: ...

    async def stop(self, vm_id: str) -> VmInfo:
        """Kill whatever runs in the VM; its files stay."""
        ...

    async def destroy(self, vm_id: str) -> None:
        """Kill, then delete the VM and everything it wrote."""
        ...

    async def status(self, vm_id: str) -> VmInfo: ...

    async def list_vms(self) -> list[VmInfo]: ...

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
        """Run the argv `[command, *args]` (never through a shell) and wait for it."""
        ...

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
        """Output chunks as they arrive, then one ExecResult. Bad requests raise at the call."""
        ...

    async def close(self) -> None:
        """Kill running commands at shutdown; VMs stay for the next start."""
        ...
