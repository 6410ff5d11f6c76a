"""Sandbox failures as ApiErrors, so every surface renders them in its own envelope."""

from __future__ import annotations

from pentad.core.errors import BadRequest, Conflict, NotFound, ServiceUnavailable


class VmNotFound(NotFound):
    def __init__(self, vm_id: str) -> None:
        super().__init__("vm", vm_id)


class VmNotRunning(Conflict):
    code = "vm_not_running"

    def __init__(self, vm_id: str, status: str) -> None:
        super().__init__(f"VM '{vm_id}' is {status}, not running", details={"vm_id": vm_id, "status": status})


class UnknownTool(BadRequest):
    code = "unknown_tool"


class InvalidExec(BadRequest):
    code = "invalid_exec"


class SandboxUnavailable(ServiceUnavailable):
    code = "sandbox_unavailable"
