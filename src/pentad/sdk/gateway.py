"""spec 003 (Aetherium gateway): `GatewayClient` / `AsyncGatewayClient` for VMs, command execution,
tasks (get, cancel, wait, Server-Sent Events), logs (query, live WebSocket stream) and health.

Authentication as the document has it: `token=` (a JWT) as `Authorization: Bearer`, or `api_key=` as
`X-API-Key`. Every change is a task: `vms.create()` and `vms.execute()` return its id, `tasks.wait()`
polls it to the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import Field

from pentad.sdk._core import Call, Model, compact, parse_model
from pentad.sdk._transport import AsyncClient, SyncClient
from pentad.sdk.errors import TaskTimeoutError
from pentad.sdk.sse import AsyncEventStream, EventStream, ServerSentEvent
from pentad.sdk.websocket import AsyncWebSocketStream, WebSocketStream

__all__ = [
    "AsyncGatewayClient",
    "DeleteAccepted",
    "ExecuteAccepted",
    "Execution",
    "ExecutionList",
    "GatewayClient",
    "GatewayHealth",
    "LogQueryResult",
    "LogRecord",
    "Task",
    "TaskAccepted",
    "TaskCancelled",
    "TaskEvent",
    "Vm",
    "VmList",
    "VmSummary",
]

TERMINAL = frozenset({"completed", "failed", "cancelled"})


class TaskAccepted(Model):
    task_id: str
    status: str


class ExecuteAccepted(Model):
    task_id: str
    vm_id: str
    status: str


class DeleteAccepted(Model):
    id: str
    type: str
    status: str


class VmSummary(Model):
    id: str
    name: str
    status: str
    vcpu_count: int
    memory_mb: int
    created_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)


class Vm(VmSummary):
    kernel_path: str | None = None
    rootfs_path: str | None = None
    socket_path: str | None = None
    started_at: datetime | None = None
    driver: str | None = None
    limits: dict[str, str] = Field(default_factory=dict)
    tools: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None


class VmList(Model):
    vms: list[VmSummary]
    total: int


class Execution(Model):
    id: str
    vm_id: str
    command: str
    args: list[str]
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None


class ExecutionList(Model):
    executions: list[Execution]
    total: int


class Task(Model):
    """A task (job) of any surface that answers 202: VM create/delete, execute, CRM syncs."""

    id: str
    type: str
    status: str
    progress: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


class TaskCancelled(Model):
    id: str
    status: str
    message: str


class TaskEvent(Model):
    """One Server-Sent Event of `/api/v1/tasks/{id}/events`: `state` first, then each change."""

    event: str
    data: dict[str, Any]

    @property
    def status(self) -> str | None:
        value = self.data.get("status")
        return value if isinstance(value, str) else None


class LogRecord(Model):
    timestamp: datetime
    level: str
    message: str
    task_id: str | None = None
    vm_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class LogQueryResult(Model):
    logs: list[LogRecord]
    total: int


class GatewayHealth(Model):
    status: str
    components: dict[str, str]
    timestamp: datetime


# --- operations -----------------------------------------------------------------------------------


def _epoch_ms(value: int | datetime | None) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


def _create_vm(
    name: str,
    vcpus: int | None,
    memory_mb: int | None,
    network: bool | None,
    additional_tools: Sequence[str] | None,
    tool_versions: Mapping[str, str] | None,
    metadata: Mapping[str, Any] | None,
) -> Call[TaskAccepted]:
    body = compact(
        name=name,
        vcpus=vcpus,
        memory_mb=memory_mb,
        network=network,
        additional_tools=list(additional_tools) if additional_tools is not None else None,
        tool_versions=dict(tool_versions) if tool_versions is not None else None,
        metadata=dict(metadata) if metadata is not None else None,
    )
    return Call("POST", "/api/v1/vms", parse_model(TaskAccepted), json=body)


def _vm(vm_id: str) -> str:
    return f"/api/v1/vms/{vm_id}"


def _execute(vm_id: str, command: str, args: Sequence[str], timeout_s: float | None) -> Call[ExecuteAccepted]:
    body = compact(command=command, args=list(args), timeout_s=timeout_s)
    return Call("POST", f"{_vm(vm_id)}/execute", parse_model(ExecuteAccepted), json=body)


def _executions(vm_id: str, limit: int | None, offset: int | None) -> Call[ExecutionList]:
    params = compact(limit=limit, offset=offset)
    return Call("GET", f"{_vm(vm_id)}/executions", parse_model(ExecutionList), params=params)


def _task(task_id: str) -> Call[Task]:
    return Call("GET", f"/api/v1/tasks/{task_id}", parse_model(Task))


def _cancel(task_id: str) -> Call[TaskCancelled]:
    return Call("DELETE", f"/api/v1/tasks/{task_id}", parse_model(TaskCancelled))


def _task_events(task_id: str) -> Call[None]:
    return Call(
        "GET", f"/api/v1/tasks/{task_id}/events", lambda _: None, headers={"Accept": "text/event-stream"}
    )


def _task_event(event: ServerSentEvent) -> TaskEvent:
    return TaskEvent(event=event.event, data=event.json())


def _query_logs(
    vm_id: str | None,
    task_id: str | None,
    level: str | None,
    search_text: str | None,
    start_time: int | datetime | None,
    end_time: int | datetime | None,
    limit: int | None,
) -> Call[LogQueryResult]:
    body = compact(
        vm_id=vm_id,
        task_id=task_id,
        level=level,
        search_text=search_text,
        start_time=_epoch_ms(start_time),
        end_time=_epoch_ms(end_time),
        limit=limit,
    )
    return Call("POST", "/api/v1/logs/query", parse_model(LogQueryResult), json=body)


def _log_record(message: dict[str, Any]) -> LogRecord:
    return LogRecord.model_validate(message)


_VMS = Call("GET", "/api/v1/vms", parse_model(VmList))
_HEALTH = Call("GET", "/api/v1/health", parse_model(GatewayHealth))


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _expired(deadline: float | None, task: Task, task_id: str) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TaskTimeoutError(
            f"task {task_id} still {task.status} ({task.progress}%)", code="wait_timeout", body=task
        )


# --- sync client ----------------------------------------------------------------------------------


class Vms:
    def __init__(self, client: GatewayClient) -> None:
        self._client = client

    def create(
        self,
        name: str,
        *,
        vcpus: int | None = None,
        memory_mb: int | None = None,
        network: bool | None = None,
        additional_tools: Sequence[str] | None = None,
        tool_versions: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TaskAccepted:
        call = _create_vm(name, vcpus, memory_mb, network, additional_tools, tool_versions, metadata)
        return self._client._send(call, idempotency_key)

    def list(self) -> VmList:
        return self._client._send(_VMS)

    def get(self, vm_id: str) -> Vm:
        return self._client._send(Call("GET", _vm(vm_id), parse_model(Vm)))

    def delete(self, vm_id: str) -> DeleteAccepted:
        return self._client._send(Call("DELETE", _vm(vm_id), parse_model(DeleteAccepted)))

    def execute(
        self,
        vm_id: str,
        command: str,
        args: Sequence[str] = (),
        *,
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> ExecuteAccepted:
        """Run `command` with `args` as argv in the VM (no shell)."""
        return self._client._send(_execute(vm_id, command, args, timeout_s), idempotency_key)

    def executions(self, vm_id: str, *, limit: int | None = None, offset: int | None = None) -> ExecutionList:
        return self._client._send(_executions(vm_id, limit, offset))


class Tasks:
    def __init__(self, client: SyncClient) -> None:
        self._client = client

    def get(self, task_id: str) -> Task:
        return self._client._send(_task(task_id))

    def cancel(self, task_id: str) -> TaskCancelled:
        return self._client._send(_cancel(task_id))

    def wait(
        self,
        task_id: str,
        *,
        poll_interval: float = 0.5,
        timeout: float | None = 300.0,
        on_progress: Callable[[Task], None] | None = None,
    ) -> Task:
        """Poll until the task completes, fails or is cancelled, and return it (it does not raise for a
        failed task: read `status` and `error`). `TaskTimeoutError` after `timeout` seconds."""
        deadline = _deadline(timeout)
        while True:
            task = self.get(task_id)
            if on_progress is not None:
                on_progress(task)
            if task.finished:
                return task
            _expired(deadline, task, task_id)
            time.sleep(poll_interval)

    def events(self, task_id: str) -> EventStream[TaskEvent]:
        """The task as Server-Sent Events: its state first, then every change until it finishes."""
        return EventStream(self._client._transport.open_stream(_task_events(task_id)), _task_event)


class Logs:
    def __init__(self, client: GatewayClient) -> None:
        self._client = client

    def query(
        self,
        *,
        vm_id: str | None = None,
        task_id: str | None = None,
        level: str | None = None,
        search_text: str | None = None,
        start_time: int | datetime | None = None,
        end_time: int | datetime | None = None,
        limit: int | None = None,
    ) -> LogQueryResult:
        """Times as epoch milliseconds (the document's unit) or datetimes."""
        call = _query_logs(vm_id, task_id, level, search_text, start_time, end_time, limit)
        return self._client._send(call)

    def stream(self, *, vm_id: str | None = None, level: str | None = None) -> WebSocketStream[LogRecord]:
        """Live log records over the WebSocket; `level` selects that level and above."""
        params = compact(vm_id=vm_id, level=level)
        return self._client._transport.websocket("/api/v1/logs/stream", _log_record, params=params)


class GatewayClient(SyncClient):
    """spec 003, synchronous."""

    _api_key_header = "X-API-Key"

    @cached_property
    def vms(self) -> Vms:
        return Vms(self)

    @cached_property
    def tasks(self) -> Tasks:
        return Tasks(self)

    @cached_property
    def logs(self) -> Logs:
        return Logs(self)

    def health(self) -> GatewayHealth:
        return self._send(_HEALTH)


# --- async client ---------------------------------------------------------------------------------


class AsyncVms:
    def __init__(self, client: AsyncGatewayClient) -> None:
        self._client = client

    async def create(
        self,
        name: str,
        *,
        vcpus: int | None = None,
        memory_mb: int | None = None,
        network: bool | None = None,
        additional_tools: Sequence[str] | None = None,
        tool_versions: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TaskAccepted:
        call = _create_vm(name, vcpus, memory_mb, network, additional_tools, tool_versions, metadata)
        return await self._client._send(call, idempotency_key)

    async def list(self) -> VmList:
        return await self._client._send(_VMS)

    async def get(self, vm_id: str) -> Vm:
        return await self._client._send(Call("GET", _vm(vm_id), parse_model(Vm)))

    async def delete(self, vm_id: str) -> DeleteAccepted:
        return await self._client._send(Call("DELETE", _vm(vm_id), parse_model(DeleteAccepted)))

    async def execute(
        self,
        vm_id: str,
        command: str,
        args: Sequence[str] = (),
        *,
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> ExecuteAccepted:
        return await self._client._send(_execute(vm_id, command, args, timeout_s), idempotency_key)

    async def executions(
        self, vm_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> ExecutionList:
        return await self._client._send(_executions(vm_id, limit, offset))


class AsyncTasks:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(self, task_id: str) -> Task:
        return await self._client._send(_task(task_id))

    async def cancel(self, task_id: str) -> TaskCancelled:
        return await self._client._send(_cancel(task_id))

    async def wait(
        self,
        task_id: str,
        *,
        poll_interval: float = 0.5,
        timeout: float | None = 300.0,
        on_progress: Callable[[Task], None] | None = None,
    ) -> Task:
        deadline = _deadline(timeout)
        while True:
            task = await self.get(task_id)
            if on_progress is not None:
                on_progress(task)
            if task.finished:
                return task
            _expired(deadline, task, task_id)
            await asyncio.sleep(poll_interval)

    async def events(self, task_id: str) -> AsyncEventStream[TaskEvent]:
        response = await self._client._transport.open_stream(_task_events(task_id))
        return AsyncEventStream(response, _task_event)


class AsyncLogs:
    def __init__(self, client: AsyncGatewayClient) -> None:
        self._client = client

    async def query(
        self,
        *,
        vm_id: str | None = None,
        task_id: str | None = None,
        level: str | None = None,
        search_text: str | None = None,
        start_time: int | datetime | None = None,
        end_time: int | datetime | None = None,
        limit: int | None = None,
    ) -> LogQueryResult:
        call = _query_logs(vm_id, task_id, level, search_text, start_time, end_time, limit)
        return await self._client._send(call)

    async def stream(
        self, *, vm_id: str | None = None, level: str | None = None
    ) -> AsyncWebSocketStream[LogRecord]:
        params = compact(vm_id=vm_id, level=level)
        return await self._client._transport.websocket("/api/v1/logs/stream", _log_record, params=params)


class AsyncGatewayClient(AsyncClient):
    """spec 003, asynchronous."""

    _api_key_header = "X-API-Key"

    @cached_property
    def vms(self) -> AsyncVms:
        return AsyncVms(self)

    @cached_property
    def tasks(self) -> AsyncTasks:
        return AsyncTasks(self)

    @cached_property
    def logs(self) -> AsyncLogs:
        return AsyncLogs(self)

    async def health(self) -> GatewayHealth:
        return await self._send(_HEALTH)
