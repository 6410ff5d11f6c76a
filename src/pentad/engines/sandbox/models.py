"""What the sandbox engine takes and returns: VM specs, VM info, exec results and output chunks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HOSTNAME_BAD = re.compile(r"[^a-z0-9-]+")


class VmStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"
    DESTROYED = "destroyed"


class VmSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    vcpus: int = Field(default=1, ge=1, le=64)
    memory_mb: int = Field(default=512, ge=16, le=1024 * 1024)
    pids_max: int | None = Field(default=None, ge=8, le=65536)  # None: the settings' default
    network: bool = False
    additional_tools: list[str] = Field(default_factory=list)
    tool_versions: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def hostname(self) -> str:
        # the VM name is free text in the API; a hostname is [a-z0-9-]{1,63}
        cleaned = _HOSTNAME_BAD.sub("-", self.name.lower()).strip("-")[:63].strip("-")
        return cleaned or "vm"


class ToolInfo(BaseModel):
    name: str
    version: str
    source: Literal["system", "mounted", "missing"]
    mount_path: str | None = None  # where the tool's directory appears inside the VM
    requested: str  # as asked: "nodejs@20", "bun@latest"


class ToolProbe(BaseModel):
    """A default tool as found on this host by running its probe inside a sandbox."""

    name: str
    requested: str
    available: bool
    version: str | None = None  # first line of the probe's output
    detail: str | None = None  # why it is not available


class VmInfo(BaseModel):
    id: str
    name: str
    status: VmStatus
    driver: str
    hostname: str
    vcpu_count: int
    memory_mb: int
    pids_max: int
    network: bool
    tools: list[ToolInfo]
    limits: dict[str, str]  # limit -> how it is enforced for this VM ("cgroup-v1", "rlimit", "not-enforced")
    root_path: str | None = None  # the VM's writable layer on the host
    kernel_path: str | None = None
    rootfs_path: str | None = None
    socket_path: str | None = None
    host_uid: int | None = None
    created_at: datetime
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ExecRequest(BaseModel):
    """An argv to run; never interpreted by a shell."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, max_length=4096)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    stdin: bytes | None = None
    timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("command", "args", "cwd")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and "\0" in item for item in items):
            raise ValueError("must not contain NUL bytes")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or "\0" in item:
                raise ValueError(f"bad environment variable {key!r}")
        return value

    @field_validator("cwd")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("cwd must be an absolute path inside the VM")
        return value


class ExecResult(BaseModel):
    exit_code: int  # 128 + signal when killed by a signal, as shells report it
    signal: int | None = None
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_bytes: int = 0  # bytes the command wrote, kept or not
    stderr_bytes: int = 0
    timed_out: bool = False
    oom_killed: bool = False
    started_at: datetime
    completed_at: datetime
    duration_ms: int


@dataclass(frozen=True, slots=True)
class OutputChunk:
    """Output as it arrives (only the bytes kept under the cap are streamed)."""

    stream: Literal["stdout", "stderr"]
    data: bytes


ExecEvent = OutputChunk | ExecResult


class HostCapabilities(BaseModel):
    driver: str
    available: bool
    detail: str | None = None
    version: str | None = None  # bwrap or qemu version
    cgroup: Literal["v2", "v1", "hybrid", "none"] = "none"
    uid_isolation: Literal["per-vm", "off"] = "off"
    limits: dict[str, str] = Field(default_factory=dict)
