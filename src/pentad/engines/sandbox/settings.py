"""Sandbox settings: which driver, where VMs live, default limits, the tool catalogue, the microVM images."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TOOL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._+-]{0,63}$"


class _Group(BaseModel):
    # a typo in pentad.toml must fail at start, not pass silently
    model_config = ConfigDict(extra="forbid")


class ToolVersionSettings(_Group):
    """One installable version of a tool.

    `path` is a host directory mounted read-only at /opt/tools/<tool>/<version>; None means the tool is a
    host toolchain already under /usr. `bin` lists the subdirectories of `path` put on PATH. `probe` is the
    argv run inside a VM to report the version (`git --version`); `expect` is a prefix its output must
    start with for the version to count as available (e.g. "v20." for nodejs 20 taken from /usr).
    """

    path: Path | None = None
    bin: list[str] = Field(default_factory=lambda: ["bin"])
    probe: list[str] = Field(default_factory=list)
    expect: str | None = None

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError("tool paths must be absolute")
        return value

    @field_validator("bin")
    @classmethod
    def _relative(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry.startswith("/") or ".." in Path(entry).parts:
                raise ValueError("bin entries are relative to the tool path")
        return value


class ToolSettings(_Group):
    """A tool and its versions; `latest` names the version that `tool@latest` or a bare `tool` means."""

    versions: dict[str, ToolVersionSettings]
    latest: str | None = None


def _default_catalogue() -> dict[str, ToolSettings]:
    # Host toolchains only: what a stock Debian host with git and nodejs offers. Anything else (bun,
    # claude-code, go, other node versions) is a directory the operator installs and lists here.
    return {
        "git": ToolSettings(
            versions={"system": ToolVersionSettings(probe=["git", "--version"], expect="git version")},
            latest="system",
        ),
        "nodejs": ToolSettings(
            versions={"20": ToolVersionSettings(probe=["node", "--version"], expect="v20.")},
            latest="20",
        ),
        "python": ToolSettings(
            versions={"3.11": ToolVersionSettings(probe=["python3", "--version"], expect="Python 3.11")},
            latest="3.11",
        ),
    }


class MicroVmSettings(_Group):
    qemu_binary: str = "qemu-system-x86_64"
    kernel_path: Path | None = None
    rootfs_path: Path | None = None
    accelerator: Literal["auto", "kvm", "tcg"] = "auto"  # auto: KVM if it boots here, else TCG
    boot_timeout_s: float = Field(default=60.0, gt=0)  # until the guest agent reports ready
    kvm_boot_timeout_s: float = Field(default=10.0, gt=0)  # auto: KVM gets this long before TCG is tried
    # Under TCG the guest kernel's TSC calibration against the emulated PIT fails now and then, and the
    # guest then hangs with no clock; telling it the TSC rate (TCG's TSC is the host's) skips calibrating.
    # None: the host's rate from /proc/cpuinfo; 0: let the guest calibrate.
    tcg_tsc_khz: int | None = Field(default=None, ge=0)


class SandboxSettings(_Group):
    enabled: bool = True
    driver: Literal["namespace", "microvm"] = "namespace"
    base_dir: Path | None = None  # None: <server.data_dir>/vms
    bwrap_binary: str = "bwrap"
    prlimit_binary: str = "prlimit"
    allow_network: bool = True  # False: a VM asking for network=True is refused
    # per-vm: every VM runs as its own unprivileged host uid (needs root and a base_dir that other users
    # can traverse); off: sandboxes run as the service's uid inside a user namespace; auto picks per-vm
    # when it can and reports which it got
    uid_isolation: Literal["auto", "per-vm", "off"] = "auto"
    uid_base: int = Field(default=200_000, ge=1000)
    uid_count: int = Field(default=65_536, ge=1)
    cgroup: Literal["auto", "v2", "v1", "none"] = "auto"
    default_timeout_s: float = Field(default=300.0, gt=0)
    max_timeout_s: float = Field(default=3600.0, gt=0)
    output_cap_bytes: int = Field(default=1024 * 1024, ge=1024)  # per stream, per exec
    max_file_size_mb: int = Field(default=1024, ge=1)  # RLIMIT_FSIZE inside the sandbox
    default_pids_max: int = Field(default=256, ge=8)
    default_tools: list[str] = Field(
        default_factory=lambda: ["git", "nodejs@20", "bun@latest", "claude-code@latest"]
    )
    tools: dict[str, ToolSettings] = Field(default_factory=_default_catalogue)
    microvm: MicroVmSettings = Field(default_factory=MicroVmSettings)

    @field_validator("tools")
    @classmethod
    def _tool_names(cls, value: dict[str, ToolSettings]) -> dict[str, ToolSettings]:
        for name, tool in value.items():
            if not re.match(TOOL_NAME_PATTERN, name):
                raise ValueError(f"bad tool name {name!r}")
            for version in tool.versions:
                if not re.match(TOOL_NAME_PATTERN, version):
                    raise ValueError(f"bad version {version!r} for tool {name!r}")
            if tool.latest is not None and tool.latest not in tool.versions:
                raise ValueError(f"tool {name!r}: latest={tool.latest!r} is not one of its versions")
        return value
