"""The sandbox driver for this process, created on first use (in the API or a Celery worker) and closed at
shutdown."""

from __future__ import annotations

from pentad.core.context import CoreServices
from pentad.engines.sandbox.factory import build_driver
from pentad.engines.sandbox.protocol import SandboxDriver

SANDBOX_KEY = "sandbox_driver"


def sandbox_driver(core: CoreServices) -> SandboxDriver:
    driver = core.extras.get(SANDBOX_KEY)
    if driver is None:
        driver = build_driver(core.settings.sandbox, core.settings.server.data_dir)
        core.extras[SANDBOX_KEY] = driver
    return driver


async def close_sandbox(core: CoreServices) -> None:
    driver = core.extras.pop(SANDBOX_KEY, None)
    if driver is not None:
        await driver.close()
