"""The tool catalogue: `tool@version` references resolved against what the operator configured.

A tool version is either a host toolchain already visible under /usr (git, node from Debian) or a host
directory mounted read-only into the VM at /opt/tools/<tool>/<version> with its bin directories on PATH.
Explicitly requested tools that cannot be resolved are a 400; default tools that this host lacks are
reported as missing rather than failing every create.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from pentad.engines.sandbox.errors import UnknownTool
from pentad.engines.sandbox.models import ToolInfo, ToolProbe, VmInfo, VmSpec
from pentad.engines.sandbox.protocol import SandboxDriver
from pentad.engines.sandbox.settings import ToolSettings

TOOLS_MOUNT = "/opt/tools"


class ResolvedTool(BaseModel):
    name: str
    version: str
    requested: str
    source: Literal["system", "mounted", "missing"]
    host_path: str | None = None
    mount_path: str | None = None
    path_dirs: list[str] = []  # inside the VM, prepended to PATH
    probe: list[str] = []
    expect: str | None = None

    def info(self) -> ToolInfo:
        return ToolInfo(
            name=self.name,
            version=self.version,
            source=self.source,
            mount_path=self.mount_path,
            requested=self.requested,
        )


def parse_ref(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.strip().partition("@")
    return name.strip().lower(), (version.strip() or None)


def _version_key(version: str) -> list[tuple[int, int | str]]:
    # "1.23.0" > "1.9" > "system": numbers compare as numbers, words sort below them
    return [(1, int(part)) if part.isdigit() else (0, part) for part in re.split(r"[.\-+]", version)]


class ToolCatalogue:
    def __init__(self, tools: dict[str, ToolSettings]) -> None:
        self._tools = tools

    def names(self) -> list[str]:
        return sorted(self._tools)

    def versions(self, name: str) -> list[str]:
        tool = self._tools.get(name)
        return sorted(tool.versions, key=_version_key) if tool else []

    def resolve(self, ref: str, version: str | None = None) -> ResolvedTool:
        """`ref` is "name" or "name@version"; `version` (from tool_versions) overrides the ref's."""
        name, ref_version = parse_ref(ref)
        wanted = version or ref_version or "latest"
        tool = self._tools.get(name)
        if tool is None:
            raise UnknownTool(
                f"Unknown tool '{name}'. Available tools: {', '.join(self.names()) or 'none'}",
                details={"tool": name, "available": self.names()},
            )
        chosen = wanted
        if wanted == "latest":
            chosen = tool.latest or self.versions(name)[-1]
        entry = tool.versions.get(chosen)
        if entry is None:
            # "20" may name "20.11.1": accept a unique dotted-prefix match
            matches = [v for v in tool.versions if v.startswith(chosen + ".")]
            if len(matches) == 1:
                chosen, entry = matches[0], tool.versions[matches[0]]
        if entry is None:
            raise UnknownTool(
                f"Unknown version '{wanted}' of tool '{name}'. "
                f"Available versions: {', '.join(self.versions(name))}",
                details={"tool": name, "version": wanted, "available": self.versions(name)},
            )
        requested = f"{name}@{wanted}"
        if entry.path is None:
            return ResolvedTool(
                name=name,
                version=chosen,
                requested=requested,
                source="system",
                probe=entry.probe,
                expect=entry.expect,
            )
        if not entry.path.is_dir():
            raise UnknownTool(
                f"Tool '{name}@{chosen}' is configured but not installed on this host",
                details={"tool": name, "version": chosen},
            )
        mount = f"{TOOLS_MOUNT}/{name}/{chosen}"
        return ResolvedTool(
            name=name,
            version=chosen,
            requested=requested,
            source="mounted",
            host_path=str(entry.path),
            mount_path=mount,
            path_dirs=[str(Path(mount) / sub) for sub in entry.bin],
            probe=entry.probe,
            expect=entry.expect,
        )

    def resolve_spec(
        self, default_tools: list[str], additional_tools: list[str], tool_versions: dict[str, str]
    ) -> list[ResolvedTool]:
        """Defaults (missing ones reported, not fatal) plus explicit requests (unknown ones are a 400)."""
        versions = {parse_ref(k)[0]: v for k, v in tool_versions.items()}
        resolved: dict[str, ResolvedTool] = {}
        explicit = [parse_ref(ref)[0] for ref in additional_tools]
        for ref in default_tools:
            name, ref_version = parse_ref(ref)
            if name in explicit or name in versions:
                continue  # asked for explicitly below, so failures there are errors
            try:
                resolved[name] = self.resolve(ref)
            except UnknownTool:
                resolved[name] = ResolvedTool(
                    name=name, version=ref_version or "latest", requested=ref.strip(), source="missing"
                )
        default_names = {parse_ref(ref)[0]: ref for ref in default_tools}
        for name in [*explicit, *versions]:
            if name in resolved and resolved[name].source != "missing":
                continue
            ref = next(
                (r for r in additional_tools if parse_ref(r)[0] == name), default_names.get(name, name)
            )
            resolved[name] = self.resolve(ref, versions.get(name))
        return list(resolved.values())


async def probe_default_tools(driver: SandboxDriver) -> list[ToolProbe]:
    """The spec's default tools as this host really has them: each probe runs inside a throwaway VM."""
    vm = await driver.create(VmSpec(name="tool-probe"))
    try:
        await driver.start(vm.id)
        return [await _probe_one(driver, vm.id, tool) for tool in _resolved(driver, vm)]
    finally:
        await driver.destroy(vm.id)


def _resolved(driver: SandboxDriver, vm: VmInfo) -> list[ResolvedTool]:
    catalogue: ToolCatalogue | None = getattr(driver, "catalogue", None)
    resolved = []
    for tool in vm.tools:
        if tool.source == "missing" or catalogue is None:
            resolved.append(
                ResolvedTool(name=tool.name, version=tool.version, requested=tool.requested, source="missing")
            )
        else:
            resolved.append(catalogue.resolve(tool.requested))
    return resolved


async def _probe_one(driver: SandboxDriver, vm_id: str, tool: ResolvedTool) -> ToolProbe:
    base = {"name": tool.name, "requested": tool.requested}
    if tool.source == "missing":
        return ToolProbe(**base, available=False, detail="not in this server's tool catalogue")
    if not tool.probe:
        return ToolProbe(**base, available=True, detail="no probe configured")
    result = await driver.exec(vm_id, tool.probe[0], tool.probe[1:], timeout_s=30)
    first_line = (result.stdout or result.stderr).strip().splitlines()[:1]
    version = first_line[0] if first_line else None
    if result.exit_code != 0:
        return ToolProbe(**base, available=False, version=version, detail=f"probe exited {result.exit_code}")
    if tool.expect and not (version or "").startswith(tool.expect):
        return ToolProbe(
            **base, available=False, version=version, detail=f"expected a version starting {tool.expect!r}"
        )
    return ToolProbe(**base, available=True, version=version)
