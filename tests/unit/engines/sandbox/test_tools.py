"""The tool catalogue: references, versions, defaults reported as missing, explicit requests refused."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pentad.engines.sandbox.errors import UnknownTool
from pentad.engines.sandbox.models import VmSpec
from pentad.engines.sandbox.namespace import NamespaceDriver
from pentad.engines.sandbox.settings import SandboxSettings, ToolSettings, ToolVersionSettings
from pentad.engines.sandbox.tools import ToolCatalogue, probe_default_tools


def catalogue(tmp_path: Path) -> ToolCatalogue:
    go_old = tmp_path / "go-1.9"
    go_new = tmp_path / "go-1.23.0"
    for directory in (go_old, go_new):
        (directory / "bin").mkdir(parents=True)
    return ToolCatalogue(
        {
            "go": ToolSettings(
                versions={
                    "1.9": ToolVersionSettings(path=go_old),
                    "1.23.0": ToolVersionSettings(path=go_new),
                    "1.24.0": ToolVersionSettings(path=tmp_path / "not-installed"),
                }
            ),
            "git": ToolSettings(versions={"system": ToolVersionSettings()}, latest="system"),
        }
    )


def test_resolve_versions(tmp_path: Path) -> None:
    tools = catalogue(tmp_path)
    go = tools.resolve("go@1.23.0")
    assert (go.source, go.mount_path, go.path_dirs) == (
        "mounted",
        "/opt/tools/go/1.23.0",
        ["/opt/tools/go/1.23.0/bin"],
    )
    assert tools.resolve("go", "1.9").version == "1.9"
    assert tools.resolve("go@1.23").version == "1.23.0"  # unique prefix
    assert tools.resolve("git").source == "system"
    with pytest.raises(UnknownTool, match="Unknown tool 'cobol'"):
        tools.resolve("cobol")
    with pytest.raises(UnknownTool, match=re.escape("Available versions: 1.9, 1.23.0, 1.24.0")):
        tools.resolve("go@2")
    with pytest.raises(UnknownTool, match="not installed"):
        tools.resolve("go@1.24.0")
    with pytest.raises(UnknownTool):
        tools.resolve("go@latest")  # the newest configured version is not on disk


def test_resolve_spec(tmp_path: Path) -> None:
    tools = catalogue(tmp_path)
    resolved = {
        t.name: t for t in tools.resolve_spec(["git", "nodejs@20", "bun@latest"], ["go"], {"go": "1.9"})
    }
    assert resolved["git"].source == "system"
    assert resolved["nodejs"].source == "missing"  # a default this host lacks is reported, not fatal
    assert resolved["bun"].source == "missing"
    assert resolved["go"].version == "1.9"
    with pytest.raises(UnknownTool):
        tools.resolve_spec(["git"], [], {"nodejs": "20"})  # asked for explicitly: must exist


def test_settings_reject_bad_catalogues() -> None:
    with pytest.raises(ValueError, match="latest"):
        SandboxSettings(tools={"go": ToolSettings(versions={"1": ToolVersionSettings()}, latest="2")})
    with pytest.raises(ValueError, match="absolute"):
        ToolVersionSettings(path=Path("relative"))


async def test_mounted_tool_runs_inside_the_vm(driver: NamespaceDriver, tmp_path: Path) -> None:
    tool_dir = Path("/tmp") / f"pentad-tool-{tmp_path.name}"
    (tool_dir / "bin").mkdir(parents=True, exist_ok=True)
    script = tool_dir / "bin" / "hello-tool"
    script.write_text("#!/bin/sh\necho hello-tool 1.0\n")
    script.chmod(0o755)
    tool_dir.chmod(0o755)
    try:
        driver.catalogue = ToolCatalogue(
            {
                "hello": ToolSettings(
                    versions={"1.0": ToolVersionSettings(path=tool_dir, probe=["hello-tool"])}
                )
            }
        )
        vm = await driver.create(_spec(additional_tools=["hello@1.0"]))
        await driver.start(vm.id)
        assert (await driver.exec(vm.id, "hello-tool", [])).stdout == "hello-tool 1.0\n"
        denied = await driver.exec(vm.id, "touch", ["/opt/tools/hello/1.0/bin/x"])
        assert denied.exit_code != 0  # read-only
    finally:
        shutil.rmtree(tool_dir, ignore_errors=True)


def _spec(**fields: object) -> VmSpec:
    return VmSpec.model_validate({"name": "tools", **fields})


async def test_default_tools_are_probed_truthfully(driver: NamespaceDriver) -> None:
    report = {probe.name: probe for probe in await probe_default_tools(driver)}
    assert set(report) == {"git", "nodejs", "bun", "claude-code"}
    assert report["git"].available
    assert (report["git"].version or "").startswith("git version")
    assert not report["bun"].available
    assert report["bun"].detail == "not in this server's tool catalogue"
    assert await driver.list_vms() == []  # the probe VM is gone
