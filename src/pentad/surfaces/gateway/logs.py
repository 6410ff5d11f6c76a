"""spec 003 Logs: `POST /api/v1/logs/query` and the `GET /api/v1/logs/stream` WebSocket (filters vm_id,
level). Both only show records of tasks and VMs the caller owns (admins: all)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, WebSocket
from pydantic import BaseModel, ConfigDict, Field

from pentad.core import channels
from pentad.core.bus import Message
from pentad.core.context import CoreServices
from pentad.core.errors import NotFound, ValidationFailed
from pentad.core.identity.dependencies import Core, DbSession, RequirePermission, get_principal
from pentad.core.identity.principal import Principal
from pentad.core.jobs.models import Job
from pentad.core.realtime import POLICY_VIOLATION, relay, websocket_principal
from pentad.engines.logs.models import LEVELS
from pentad.engines.logs.store import LogQuery
from pentad.surfaces.gateway.models import Vm
from pentad.surfaces.gateway.tasks import parse_uuid

router = APIRouter(prefix="/api/v1/logs", tags=["Gateway: Logs"])
LogReader = Annotated[Principal, RequirePermission("logs.read")]
Level = Literal["debug", "info", "warning", "error"]
MAX_EPOCH_MS = 253_402_300_799_999


class LogQueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vm_id: str | None = None
    task_id: str | None = None
    level: Level | None = None
    search_text: str | None = Field(default=None, max_length=500)
    # epoch milliseconds, up to the last millisecond of year 9999 (what a datetime can hold)
    start_time: int | None = Field(default=None, ge=0, le=MAX_EPOCH_MS, description="epoch milliseconds")
    end_time: int | None = Field(default=None, ge=0, le=MAX_EPOCH_MS, description="epoch milliseconds")
    limit: int = Field(default=100, ge=1, le=1000)


class LogRecordView(BaseModel):
    timestamp: str
    level: str
    message: str
    task_id: str | None
    vm_id: str | None
    fields: dict[str, Any]


class LogQueryResponse(BaseModel):
    logs: list[LogRecordView]
    total: int


async def _check_vm(session: Any, principal: Principal, vm_id: str) -> None:
    vm = await session.get(Vm, parse_uuid(vm_id, "VM"))
    if vm is None or not (vm.owner_id == principal.user_id or principal.is_admin):
        raise NotFound("vm", vm_id)


@router.post(
    "/query", response_model=LogQueryResponse, dependencies=[Depends(get_principal)], summary="Query logs"
)
async def query_logs(
    body: LogQueryRequest, principal: LogReader, core: Core, session: DbSession
) -> LogQueryResponse:
    if body.vm_id:
        await _check_vm(session, principal, body.vm_id)
    elif not principal.is_admin and not body.task_id:
        # without a VM or task filter there is no ownership to check: non-admins must name one
        raise ValidationFailed(
            "vm_id or task_id is required", fields=[{"field": "vm_id", "error": "required"}]
        )
    if body.task_id and not principal.is_admin:
        job = await session.get(Job, parse_uuid(body.task_id, "task"))
        if job is None or job.owner_id != principal.user_id:
            raise NotFound("task", body.task_id)
    store = core.extras["log_store"]
    logs, total = await store.query(
        LogQuery(
            vm_id=body.vm_id,
            task_id=body.task_id,
            level=body.level,
            search_text=body.search_text,
            start_ms=body.start_time,
            end_ms=body.end_time,
            limit=body.limit,
        )
    )
    return LogQueryResponse(logs=[LogRecordView(**record) for record in logs], total=total)


@router.websocket("/stream")
async def stream_logs(websocket: WebSocket) -> None:
    core: CoreServices = websocket.app.state.core
    await websocket.accept()
    principal = await websocket_principal(websocket, core)
    if principal is None:
        return
    vm_id = websocket.query_params.get("vm_id")
    level = websocket.query_params.get("level")
    if level is not None and level not in LEVELS:
        await websocket.close(code=POLICY_VIOLATION, reason=f"level must be one of {list(LEVELS)}")
        return
    if vm_id:
        try:
            async with core.db.transaction() as session:
                await _check_vm(session, principal, vm_id)
        except Exception:
            await websocket.close(code=POLICY_VIOLATION, reason="VM not found")
            return
    elif not principal.is_admin:
        await websocket.close(code=POLICY_VIOLATION, reason="vm_id is required")
        return
    accepted = set(LEVELS[LEVELS.index(level) :]) if level else set(LEVELS)
    filters: dict[str, list[Any]] = {"level": sorted(accepted)}
    if vm_id:
        filters["vm_id"] = [vm_id]
    subscription = core.bus.subscribe([channels.LOGS], filters, maxsize=core.settings.bus.subscriber_queue)

    def render(message: Message) -> dict[str, Any] | None:
        record = message.payload
        if vm_id and record.get("vm_id") != vm_id:
            return None
        return {
            key: record.get(key) for key in ("timestamp", "level", "message", "task_id", "vm_id", "fields")
        }

    try:
        await relay(websocket, subscription, render)
    finally:
        core.bus.unsubscribe(subscription)
