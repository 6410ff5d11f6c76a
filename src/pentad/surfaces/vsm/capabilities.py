"""What an agent's command can run. Built-in capabilities are Python handlers; any other capability runs
the argv the agent's `config.commands[<name>]` declares, with the command's args appended, inside the
agent's own sandbox VM (created on first use)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from pentad.core.context import CoreServices
from pentad.core.errors import ValidationFailed
from pentad.core.webhooks.urls import check_outbound_url
from pentad.engines.sandbox import VmNotFound, VmSpec
from pentad.engines.sandbox.access import sandbox_driver
from pentad.surfaces.vsm.models import Agent

Capability = Callable[[CoreServices, Agent, list[str], float], Awaitable[dict[str, Any]]]
AGENT_VM_NAMESPACE = uuid.UUID("6f1d9a5e-2a8b-4b77-9c1e-5a0f3d2b7c41")


async def echo(core: CoreServices, agent: Agent, args: list[str], timeout_s: float) -> dict[str, Any]:
    return {"echo": args}


async def system_report(
    core: CoreServices, agent: Agent, args: list[str], timeout_s: float
) -> dict[str, Any]:
    runner = core.runner
    return {
        **core.telemetry.resources(),
        "queue_depth": runner.queue_depth if runner else 0,
        "requests_total": core.telemetry.requests_total,
        "uptime_seconds": core.telemetry.uptime_seconds,
    }


async def http_check(core: CoreServices, agent: Agent, args: list[str], timeout_s: float) -> dict[str, Any]:
    if not args:
        raise ValidationFailed(
            "http_check needs a URL argument", fields=[{"field": "args", "error": "missing URL"}]
        )
    url = check_outbound_url(args[0], core.settings.webhooks.allowed_hosts, field="args[0]")
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=min(timeout_s, 30), follow_redirects=False) as client:
        response = await client.get(url)
    return {
        "url": url,
        "status_code": response.status_code,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }


BUILT_IN: dict[str, Capability] = {"echo": echo, "system_report": system_report, "http_check": http_check}


async def run_in_sandbox(
    core: CoreServices, agent: Agent, argv: list[str], timeout_s: float
) -> dict[str, Any]:
    driver = sandbox_driver(core)
    vm_id = str(uuid.uuid5(AGENT_VM_NAMESPACE, agent.id))
    try:
        info = await driver.status(vm_id)
        if info.status != "running":
            await driver.start(vm_id)
    except VmNotFound:
        await driver.create(VmSpec(name=agent.name[:128], metadata={"agent_id": agent.id}), vm_id=vm_id)
        await driver.start(vm_id)
    result = await driver.exec(vm_id, argv[0], argv[1:], timeout_s=timeout_s)
    if result.timed_out:
        raise TimeoutError(f"timed out after {timeout_s:g} s")
    if result.exit_code != 0:
        raise RuntimeError(f"exit code {result.exit_code}: {result.stderr.strip()[:500]}")
    return {
        "exit_code": result.exit_code,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "duration_ms": result.duration_ms,
    }


def resolve(agent: Agent, command: str) -> tuple[Capability | None, list[str] | None]:
    """The handler for `command`, or the argv to run in the sandbox; refuses undeclared capabilities."""
    if command not in agent.capabilities:
        raise ValidationFailed(
            f"Agent does not declare capability '{command}'",
            fields=[
                {"field": "command", "error": f"not among the agent's capabilities {agent.capabilities}"}
            ],
        )
    commands = agent.config.get("commands", {})
    if isinstance(commands, dict) and command in commands:
        return None, [str(part) for part in commands[command]]
    if command in BUILT_IN:
        return BUILT_IN[command], None
    raise ValidationFailed(
        f"Capability '{command}' has no handler",
        fields=[
            {
                "field": "command",
                "error": f"define config.commands.{command} as an argv to run it in the agent's sandbox, "
                f"or use a built-in: {sorted(BUILT_IN)}",
            }
        ],
    )
