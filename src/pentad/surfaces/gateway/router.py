"""spec 003 VMs and command execution under `/api/v1/vms`. Create, delete and execute answer 202 with a
task; `GET /api/v1/tasks/{id}` (tasks.py) follows it. A VM belongs to the user who created it; admins
see all. Bad ids are spec 003's 400."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from pentad.core.db import isoformat_z
from pentad.core.errors import Conflict, NotFound
from pentad.core.identity.dependencies import Core, DbSession, RequirePermission, get_principal
from pentad.core.identity.principal import Principal
from pentad.surfaces.gateway.models import Execution, Vm
from pentad.surfaces.gateway.tasks import parse_uuid

router = APIRouter(
    prefix="/api/v1/vms", tags=["Gateway: Virtual Machines"], dependencies=[Depends(get_principal)]
)

VmReader = Annotated[Principal, RequirePermission("vms.read")]
VmWriter = Annotated[Principal, RequirePermission("vms.write")]


class VmCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, examples=["my-vm"])
    vcpus: int = Field(default=1, ge=1, le=64)
    memory_mb: int = Field(default=512, ge=16, le=1024 * 1024)
    network: bool = False
    additional_tools: list[str] = Field(default_factory=list, max_length=32)
    tool_versions: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, max_length=4096, examples=["git"])
    args: list[str] = Field(default_factory=list, max_length=1024)
    timeout_s: float | None = Field(default=None, gt=0, le=3600)


class TaskAccepted(BaseModel):
    task_id: str
    status: str


class ExecuteAccepted(BaseModel):
    task_id: str
    vm_id: str
    status: str


class DeleteAccepted(BaseModel):
    id: str
    type: str
    status: str


class VmSummary(BaseModel):
    id: str
    name: str
    status: str
    vcpu_count: int
    memory_mb: int
    created_at: str
    metadata: dict[str, Any]


class VmDetail(VmSummary):
    kernel_path: str | None
    rootfs_path: str | None
    socket_path: str | None
    started_at: str | None
    driver: str | None
    limits: dict[str, str]
    tools: list[dict[str, Any]]
    error: str | None


class VmList(BaseModel):
    vms: list[VmSummary]
    total: int


class ExecutionView(BaseModel):
    id: str
    vm_id: str
    command: str
    args: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    started_at: str | None
    completed_at: str | None
    duration_ms: int | None
    timed_out: bool
    stdout_truncated: bool
    stderr_truncated: bool


class ExecutionList(BaseModel):
    executions: list[ExecutionView]
    total: int


def summary(vm: Vm) -> dict[str, Any]:
    return {
        "id": str(vm.id),
        "name": vm.name,
        "status": vm.status,
        "vcpu_count": vm.vcpus,
        "memory_mb": vm.memory_mb,
        "created_at": isoformat_z(vm.created_at),
        "metadata": dict(vm.spec.get("metadata", {})),
    }


def detail(vm: Vm) -> VmDetail:
    info = vm.info
    return VmDetail(
        **summary(vm),
        kernel_path=info.get("kernel_path"),
        rootfs_path=info.get("rootfs_path"),
        socket_path=info.get("socket_path"),
        started_at=isoformat_z(vm.started_at) if vm.started_at else None,
        driver=info.get("driver"),
        limits=info.get("limits", {}),
        tools=info.get("tools", []),
        error=vm.error,
    )


async def load_vm(session: DbSession, principal: Principal, vm_id: str) -> Vm:
    vm = await session.get(Vm, parse_uuid(vm_id, "VM"))
    if vm is None or vm.status == "deleted" or not (vm.owner_id == principal.user_id or principal.is_admin):
        raise NotFound("vm", vm_id)
    return vm


@router.post("", status_code=202, response_model=TaskAccepted, summary="Create VM")
async def create_vm(body: VmCreate, principal: VmWriter, core: Core, session: DbSession) -> TaskAccepted:
    from pentad.engines.sandbox import VmSpec

    vm = Vm(
        owner_id=principal.user_id,
        name=body.name,
        vcpus=body.vcpus,
        memory_mb=body.memory_mb,
        spec=body.model_dump(mode="json"),
    )
    session.add(vm)
    await session.flush()
    spec = VmSpec(**body.model_dump())
    job = await core.jobs.submit(
        session,
        "vm:create",
        {"vm_id": str(vm.id), "spec": spec.model_dump(mode="json")},
        owner_id=principal.user_id,
        subject_id=str(vm.id),
    )
    return TaskAccepted(task_id=str(job.id), status=job.status)


@router.get("", response_model=VmList, summary="List VMs")
async def list_vms(principal: VmReader, session: DbSession) -> VmList:
    query = select(Vm).where(Vm.status != "deleted")
    if not principal.is_admin:
        query = query.where(Vm.owner_id == principal.user_id)
    rows = list((await session.execute(query.order_by(Vm.created_at.desc()))).scalars())
    return VmList(vms=[VmSummary(**summary(vm)) for vm in rows], total=len(rows))


@router.get("/{vm_id}", response_model=VmDetail, summary="Get VM")
async def get_vm(vm_id: str, principal: VmReader, session: DbSession) -> VmDetail:
    return detail(await load_vm(session, principal, vm_id))


@router.delete("/{vm_id}", status_code=202, response_model=DeleteAccepted, summary="Delete VM")
async def delete_vm(vm_id: str, principal: VmWriter, core: Core, session: DbSession) -> DeleteAccepted:
    vm = await load_vm(session, principal, vm_id)
    if vm.status == "deleting":
        raise Conflict("VM is already being deleted")
    vm.status = "deleting"
    job = await core.jobs.submit(
        session, "vm:delete", {"vm_id": str(vm.id)}, owner_id=principal.user_id, subject_id=str(vm.id)
    )
    return DeleteAccepted(id=str(job.id), type=job.type, status=job.status)


@router.post("/{vm_id}/execute", status_code=202, response_model=ExecuteAccepted, summary="Execute command")
async def execute(
    vm_id: str, body: ExecuteRequest, principal: VmWriter, core: Core, session: DbSession
) -> ExecuteAccepted:
    vm = await load_vm(session, principal, vm_id)
    if vm.status != "running":
        raise Conflict(f"VM is {vm.status}, not running", code="vm_not_running")
    execution = Execution(vm_id=vm.id, command=body.command, args=body.args)
    session.add(execution)
    await session.flush()
    payload = {
        "vm_id": str(vm.id),
        "execution_id": str(execution.id),
        "command": body.command,
        "args": body.args,
        "timeout_s": body.timeout_s,
    }
    job = await core.jobs.submit(
        session, "vm:execute", payload, owner_id=principal.user_id, subject_id=str(vm.id)
    )
    execution.task_id = job.id
    return ExecuteAccepted(task_id=str(job.id), vm_id=str(vm.id), status=job.status)


MAX_OFFSET = 2**62


@router.get("/{vm_id}/executions", response_model=ExecutionList, summary="List executions")
async def list_executions(
    vm_id: str, principal: VmReader, session: DbSession, limit: int = 100, offset: int = 0
) -> ExecutionList:
    vm = await load_vm(session, principal, vm_id)
    base = select(Execution).where(Execution.vm_id == vm.id)
    total = (await session.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rows = await session.execute(
        base.order_by(Execution.started_at.desc(), Execution.id)
        .limit(min(max(limit, 1), 500))
        .offset(min(max(offset, 0), MAX_OFFSET))  # clamped, as limit is: SQLite holds 64-bit integers only
    )
    return ExecutionList(
        executions=[
            ExecutionView(
                id=str(item.id),
                vm_id=str(item.vm_id),
                command=item.command,
                args=item.args,
                exit_code=item.exit_code,
                stdout=item.stdout,
                stderr=item.stderr,
                started_at=isoformat_z(item.started_at) if item.started_at else None,
                completed_at=isoformat_z(item.completed_at) if item.completed_at else None,
                duration_ms=item.duration_ms,
                timed_out=item.timed_out,
                stdout_truncated=item.stdout_truncated,
                stderr_truncated=item.stderr_truncated,
            )
            for item in rows.scalars()
        ],
        total=int(total),
    )
