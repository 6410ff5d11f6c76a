"""Gateway job handlers: `vm:create`, `vm:delete`, `vm:execute`. Every lifecycle step and every line of
command output is logged (task_id and vm_id set), so `/logs/query` and `/logs/stream` see it."""

from __future__ import annotations

import uuid
from typing import Any

from pentad.core.context import CoreServices
from pentad.core.db import utcnow
from pentad.core.jobs.context import JobContext
from pentad.core.jobs.registry import JobRegistry, JobSpec
from pentad.engines.sandbox import ExecResult, OutputChunk, VmNotFound, VmSpec
from pentad.engines.sandbox.access import sandbox_driver
from pentad.surfaces.gateway.models import Execution, Vm

MAX_LOG_LINE = 2000


async def _set_vm(core: CoreServices, vm_id: uuid.UUID, **changes: Any) -> None:
    async with core.db.transaction() as session:
        vm = await session.get(Vm, vm_id)
        if vm is not None:
            for name, value in changes.items():
                setattr(vm, name, value)


async def create_vm(ctx: JobContext) -> dict[str, Any]:
    core: CoreServices = ctx.resources["core"]
    vm_id = uuid.UUID(ctx.payload["vm_id"])
    driver = sandbox_driver(core)
    spec = VmSpec(**ctx.payload["spec"])
    await ctx.log(f"creating VM {spec.name}", vm_id=str(vm_id))
    try:
        await ctx.progress(10, current_step="creating sandbox")
        await driver.create(spec, vm_id=str(vm_id))
        await ctx.progress(60, current_step="starting")
        info = await driver.start(str(vm_id))
    except Exception as exc:
        await _set_vm(core, vm_id, status="error", error=str(exc)[:1000])
        await ctx.log(f"VM creation failed: {exc}", level="error", vm_id=str(vm_id))
        raise
    await _set_vm(core, vm_id, status="running", started_at=utcnow(), info=info.model_dump(mode="json"))
    missing = [tool.requested for tool in info.tools if tool.source == "missing"]
    await ctx.log(
        f"VM {spec.name} running ({info.driver})",
        vm_id=str(vm_id),
        limits=info.limits,
        missing_default_tools=missing,
    )
    return {"vm_id": str(vm_id), "name": spec.name, "status": "running"}


async def delete_vm(ctx: JobContext) -> dict[str, Any]:
    core: CoreServices = ctx.resources["core"]
    vm_id = uuid.UUID(ctx.payload["vm_id"])
    driver = sandbox_driver(core)
    await ctx.log("deleting VM", vm_id=str(vm_id))
    try:
        await driver.destroy(str(vm_id))
    except VmNotFound:
        pass  # never created (its create task failed): deleting it is still a success
    await _set_vm(core, vm_id, status="deleted", deleted_at=utcnow())
    await ctx.log("VM deleted", vm_id=str(vm_id))
    return {"vm_id": str(vm_id), "status": "deleted"}


async def execute_command(ctx: JobContext) -> dict[str, Any]:
    core: CoreServices = ctx.resources["core"]
    vm_id = uuid.UUID(ctx.payload["vm_id"])
    execution_id = uuid.UUID(ctx.payload["execution_id"])
    command, args = ctx.payload["command"], list(ctx.payload.get("args", []))
    driver = sandbox_driver(core)
    await _set_execution(core, execution_id, started_at=utcnow())
    await ctx.log(f"exec {command} {' '.join(args)}"[:MAX_LOG_LINE], vm_id=str(vm_id))
    result: ExecResult | None = None
    pending: dict[str, str] = {"stdout": "", "stderr": ""}
    async for event in driver.exec_stream(str(vm_id), command, args, timeout_s=ctx.payload.get("timeout_s")):
        if isinstance(event, OutputChunk):
            pending[event.stream] += event.data.decode("utf-8", "replace")
            *lines, pending[event.stream] = pending[event.stream].split("\n")
            for line in lines:
                await ctx.log(
                    line[:MAX_LOG_LINE],
                    level="info" if event.stream == "stdout" else "warning",
                    vm_id=str(vm_id),
                    stream=event.stream,
                )
        else:
            result = event
    for stream, rest in pending.items():
        if rest:
            await ctx.log(
                rest[:MAX_LOG_LINE],
                level="info" if stream == "stdout" else "warning",
                vm_id=str(vm_id),
                stream=stream,
            )
    assert result is not None
    await _set_execution(
        core,
        execution_id,
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        timed_out=result.timed_out,
        started_at=result.started_at,
        completed_at=result.completed_at,
        duration_ms=result.duration_ms,
    )
    level = "info" if result.exit_code == 0 else "error"
    await ctx.log(
        f"exit code {result.exit_code} after {result.duration_ms} ms",
        level=level,
        vm_id=str(vm_id),
        timed_out=result.timed_out,
    )
    return {
        "execution_id": str(execution_id),
        "vm_id": str(vm_id),
        "exit_code": result.exit_code,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "duration_ms": result.duration_ms,
        "timed_out": result.timed_out,
    }


async def _set_execution(core: CoreServices, execution_id: uuid.UUID, **changes: Any) -> None:
    async with core.db.transaction() as session:
        execution = await session.get(Execution, execution_id)
        if execution is not None:
            for name, value in changes.items():
                setattr(execution, name, value)


def register(registry: JobRegistry) -> None:
    registry.register(JobSpec("vm:create", create_vm, timeout_seconds=600, on_interrupt="fail"))
    registry.register(
        JobSpec("vm:delete", delete_vm, max_attempts=3, backoff_seconds=1, on_interrupt="requeue")
    )
    registry.register(JobSpec("vm:execute", execute_command, timeout_seconds=3700, on_interrupt="fail"))
