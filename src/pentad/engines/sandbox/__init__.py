"""Sandbox engine: VMs that run argv commands in isolation, behind the `SandboxDriver` port.

settings.py   SandboxSettings (driver, base_dir, limits, tool catalogue, microVM images)
models.py     VmSpec, VmInfo, ExecResult, OutputChunk, HostCapabilities
protocol.py   SandboxDriver, the port
namespace.py  NamespaceDriver: bubblewrap namespaces over a per-VM directory (the default)
runner.py     one sandboxed process: cgroup join before it runs, capped output, timeout kill
cgroups.py    v2 / v1 / none detection and per-VM cgroups
tools.py      tool catalogue and the default-tools probe
microvm.py    QEMU microvm driver (host checks only; exec not implemented)
factory.py    build_driver(settings, data_dir)
"""

from pentad.engines.sandbox.errors import SandboxUnavailable, UnknownTool, VmNotFound, VmNotRunning
from pentad.engines.sandbox.factory import build_driver
from pentad.engines.sandbox.models import (
    ExecEvent,
    ExecResult,
    HostCapabilities,
    OutputChunk,
    ToolInfo,
    ToolProbe,
    VmInfo,
    VmSpec,
    VmStatus,
)
from pentad.engines.sandbox.protocol import SandboxDriver
from pentad.engines.sandbox.settings import SandboxSettings
from pentad.engines.sandbox.tools import probe_default_tools

__all__ = [
    "ExecEvent",
    "ExecResult",
    "HostCapabilities",
    "OutputChunk",
    "SandboxDriver",
    "SandboxSettings",
    "SandboxUnavailable",
    "ToolInfo",
    "ToolProbe",
    "UnknownTool",
    "VmInfo",
    "VmNotFound",
    "VmNotRunning",
    "VmSpec",
    "VmStatus",
    "build_driver",
    "probe_default_tools",
]
