"""spec 000 §6 S1 agents: create, list, get, and `POST /api/vsm/agents/{id}/command`, which runs the
command as a job with the request's timeout and answers when it finishes (or times out)."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from pentad.core import channels
from pentad.core.db import after_commit, isoformat_z
from pentad.core.errors import NotFound
from pentad.core.identity.dependencies import Core, DbSession, RequirePermission
from pentad.core.identity.principal import Principal
from pentad.core.jobs import states
from pentad.core.jobs.context import JobContext
from pentad.core.jobs.registry import JobRegistry, JobSpec
from pentad.surfaces.vsm.capabilities import resolve, run_in_sandbox
from pentad.surfaces.vsm.models import Agent

router = APIRouter(prefix="/api/vsm/agents", tags=["VSM: S1 Agents"])
AgentManager = Annotated[Principal, RequirePermission("agents.manage")]
VsmReader = Annotated[Principal, RequirePermission("vsm.read")]
COMMAND_JOB = "vsm:agent-command"
DEFAULT_TIMEOUT_MS = 30_000


class AgentConfig(BaseModel):
    max_concurrent: int = Field(default=10, ge=1, le=10_000)
    timeout_ms: int = Field(default=DEFAULT_TIMEOUT_MS, ge=100, le=3_600_000)
    retry_attempts: int = Field(default=0, ge=0, le=10)
    # capability -> argv run in the agent's sandbox (args of the command are appended)
    commands: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("commands")
    @classmethod
    def _argv(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if any(not argv for argv in value.values()):
            raise ValueError("each command is a non-empty argv list")
        return value


class AgentCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["payment_processor"])
    type: str = Field(min_length=1, max_length=100, examples=["transaction_handler"])
    capabilities: list[str] = Field(default_factory=list, max_length=100)
    config: AgentConfig = Field(default_factory=AgentConfig)


class AgentView(BaseModel):
    id: str
    name: str
    type: str
    status: str
    capabilities: list[str]
    created_at: str
    endpoint: str
    config: dict[str, Any]


class CommandRequest(BaseModel):
    command: str = Field(min_length=1, max_length=200, examples=["process_batch"])
    args: list[str] = Field(default_factory=list, max_length=1000)
    timeout: int | None = Field(default=None, ge=100, le=3_600_000, description="milliseconds")


class CommandResponse(BaseModel):
    result: str  # success | failure | timeout
    output: dict[str, Any]
    execution_time_ms: int


def view(agent: Agent, base: str) -> AgentView:
    return AgentView(
        id=agent.id,
        name=agent.name,
        type=agent.type,
        status=agent.status,
        capabilities=agent.capabilities,
        created_at=isoformat_z(agent.created_at),
        endpoint=f"{base}/api/vsm/agents/{agent.id}/command",
        config=agent.config,
    )


def _base(core: Core, request: Request) -> str:
    return (core.settings.server.public_url or str(request.base_url)).rstrip("/")


@router.post("", status_code=201, response_model=AgentView, summary="Create agent")
async def create_agent(
    body: AgentCreate, request: Request, principal: AgentManager, core: Core, session: DbSession
) -> AgentView:
    agent = Agent(
        id="agent_" + secrets.token_hex(6),
        name=body.name,
        type=body.type,
        capabilities=list(dict.fromkeys(body.capabilities)),
        config=body.config.model_dump(),
        owner_id=principal.user_id,
    )
    session.add(agent)
    await session.flush()
    created = view(agent, _base(core, request))
    await core.webhooks.emit(
        session, "agent.status_change", {"agent_id": agent.id, "status": "active"}, style="vsm"
    )

    async def announce() -> None:
        await core.bus.publish(channels.AGENT_EVENTS, "agent.created", created.model_dump())

    after_commit(session, announce)
    return created


@router.get("", response_model=list[AgentView], summary="List agents")
async def list_agents(
    request: Request, principal: VsmReader, core: Core, session: DbSession
) -> list[AgentView]:
    rows = await session.execute(select(Agent).order_by(Agent.created_at))
    return [view(agent, _base(core, request)) for agent in rows.scalars()]


@router.get("/{agent_id}", response_model=AgentView, summary="Get agent")
async def get_agent(
    agent_id: str, request: Request, principal: VsmReader, core: Core, session: DbSession
) -> AgentView:
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("agent", agent_id)
    return view(agent, _base(core, request))


@router.post("/{agent_id}/command", response_model=CommandResponse, summary="Execute agent command")
async def command(
    agent_id: str, body: CommandRequest, principal: AgentManager, core: Core
) -> CommandResponse:
    started = time.perf_counter()
    # Its own transaction: the job must be committed (and dispatched) while this request waits for it.
    async with core.db.transaction() as session:
        agent = await session.get(Agent, agent_id)
        if agent is None:
            raise NotFound("agent", agent_id)
        resolve(agent, body.command)  # refuse undeclared or handler-less capabilities before queueing
        timeout_ms = body.timeout or int(agent.config.get("timeout_ms", DEFAULT_TIMEOUT_MS))
        job = await core.jobs.submit(
            session,
            COMMAND_JOB,
            {"agent_id": agent.id, "command": body.command, "args": body.args, "timeout_ms": timeout_ms},
            owner_id=principal.user_id,
            subject_id=agent.id,
        )
        subscription = core.bus.subscribe([channels.job(job.id)], maxsize=256)
        job_id = job.id
    try:
        deadline = started + timeout_ms / 1000 + 2.0  # the job's own limit fires first; this is a backstop
        while True:
            message = await subscription.get(timeout=max(0.05, deadline - time.perf_counter()))
            if message is None:
                break
            if message.type != "log" and message.payload.get("status") in states.TERMINAL:
                snapshot = message.payload
                elapsed = int((time.perf_counter() - started) * 1000)
                if snapshot["status"] == states.COMPLETED:
                    return CommandResponse(
                        result="success", output=snapshot.get("result") or {}, execution_time_ms=elapsed
                    )
                error = snapshot.get("error") or snapshot["status"]
                result = "timeout" if "timed out" in error else "failure"
                return CommandResponse(result=result, output={"error": error}, execution_time_ms=elapsed)
    finally:
        core.bus.unsubscribe(subscription)
    async with core.db.transaction() as session:
        running = await core.jobs.get(session, job_id)
        if running.status not in states.TERMINAL:
            await core.jobs.cancel(session, running)
    return CommandResponse(
        result="timeout",
        output={"error": f"no answer within {timeout_ms} ms"},
        execution_time_ms=int((time.perf_counter() - started) * 1000),
    )


async def run_agent_command(ctx: JobContext) -> dict[str, Any]:
    core = ctx.resources["core"]
    async with core.db.transaction() as session:
        agent = await session.get(Agent, ctx.payload["agent_id"])
        if agent is None:
            raise LookupError("agent no longer exists")
        handler, argv = resolve(agent, ctx.payload["command"])
        agent.commands_run += 1
    timeout_s = ctx.payload["timeout_ms"] / 1000
    await ctx.log(f"agent {agent.id} runs {ctx.payload['command']}", agent_id=agent.id)
    started = time.perf_counter()
    if handler is not None:
        output = await asyncio.wait_for(handler(core, agent, list(ctx.payload["args"]), timeout_s), timeout_s)
    else:
        assert argv is not None
        output = await run_in_sandbox(core, agent, argv + list(ctx.payload["args"]), timeout_s)
    return {**output, "duration_ms": output.get("duration_ms", int((time.perf_counter() - started) * 1000))}


def register(registry: JobRegistry) -> None:
    registry.register(JobSpec(COMMAND_JOB, run_agent_command, timeout_seconds=3600, on_interrupt="fail"))
