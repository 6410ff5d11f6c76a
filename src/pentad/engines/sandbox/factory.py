"""Pick the configured driver; the one place the engine is wired (the app's lifespan calls this)."""

from __future__ import annotations

from pathlib import Path

from pentad.engines.sandbox.microvm import MicroVmDriver
from pentad.engines.sandbox.namespace import NamespaceDriver
from pentad.engines.sandbox.protocol import SandboxDriver
from pentad.engines.sandbox.settings import SandboxSettings


def build_driver(settings: SandboxSettings, data_dir: Path) -> SandboxDriver:
    base_dir = settings.base_dir or data_dir / "vms"
    if settings.driver == "microvm":
        return MicroVmDriver(settings, base_dir)
    return NamespaceDriver(settings, base_dir)
