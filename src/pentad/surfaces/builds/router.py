"""spec 004 builds and analyses: `/api/build/` (create, get, history, cancel) and `/api/analysis/`.

Who sees what (docs/surfaces/builds.md): the creator sees and cancels their own; admins see and cancel
any; viewers, whose role the document calls "read-only access", read every build and analysis and
change none. Another user's task is a 403 (the document lists it), an unknown id a 404.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from pentad.core.context import CoreServices
from pentad.core.db import isoformat_z
from pentad.core.errors import Forbidden, NotFound
from pentad.core.identity.dependencies import Core, DbSession, RequirePermission
from pentad.core.identity.principal import Principal
from pentad.core.jobs import states
from pentad.core.jobs.models import Job
from pentad.surfaces.builds.jobs import ANALYSIS_JOB, BUILD_JOB
from pentad.surfaces.builds.projects import check_project_name, check_repository_url, existing_project

router = APIRouter(tags=["Builds: Tasks"])
BuildCreator = Annotated[Principal, RequirePermission("build:create")]
BuildReader = Annotated[Principal, RequirePermission("build:read")]
BuildCanceller = Annotated[Principal, RequirePermission("build:cancel")]
AnalysisCreator = Annotated[Principal, RequirePermission("analysis:create")]
AnalysisReader = Annotated[Principal, RequirePermission("analysis:read")]
AnalysisType = Literal["quality", "security", "types"]
PUBLIC_STATUS = {states.PENDING: "initializing"}


class BuildCreate(BaseModel):
    project_name: str = Field(max_length=200, examples=["my-project"])  # the injection check gives 400
    goal: str = Field(min_length=1, max_length=4000, examples=["Add authentication module with JWT support"])
    parameters: dict[str, Any] = Field(default_factory=dict, examples=[{"framework": "fastapi"}])


class BuildAccepted(BaseModel):
    task_id: str
    status: str
    message: str


class BuildView(BaseModel):
    task_id: str
    project_name: str
    status: str
    progress: int
    created_at: str
    created_by: str
    goal: str
    results: dict[str, Any] | None
    error: str | None
    current_step: str | None = None


class BuildHistory(BaseModel):
    total: int
    limit: int
    offset: int
    builds: list[BuildView]


class CancelResponse(BaseModel):
    message: str


def _all_types() -> list[AnalysisType]:
    return ["quality", "security", "types"]


class AnalysisCreate(BaseModel):
    project_name: str = Field(max_length=200, examples=["my-project"])
    analysis_types: list[AnalysisType] = Field(default_factory=_all_types, min_length=1, max_length=3)


class SecurityIssueView(BaseModel):
    issue: str
    severity: str
    line: int
    recommendation: str
    file: str
    test_id: str


class AnalysisView(BaseModel):
    analysis_id: str
    project_name: str
    timestamp: str
    performed_by: str
    status: str
    quality_score: float | None
    security_issues: list[SecurityIssueView]
    code_smells: int | None
    type_errors: int | None
    coverage_percent: float | None
    recommendations: list[str]
    error: str | None = None
    details: dict[str, Any] | None = None  # the engine's full findings: smells, type errors, untested code


def _status(job: Job) -> str:
    return PUBLIC_STATUS.get(job.status, job.status)


def _may_read(principal: Principal, job: Job) -> bool:
    return job.owner_id == principal.user_id or principal.is_admin or "viewer" in principal.roles


async def _load(session: AsyncSession, principal: Principal, task_id: str, job_type: str, what: str) -> Job:
    try:
        job_id = uuid.UUID(task_id)
    except ValueError:
        raise NotFound(what, task_id) from None
    job = await session.get(Job, job_id)
    if job is None or job.type != job_type:
        raise NotFound(what, task_id)
    if not _may_read(principal, job):
        raise Forbidden(f"Not authorized to view this {what}")
    return job


def build_view(job: Job) -> BuildView:
    payload = job.payload
    return BuildView(
        task_id=str(job.id),
        project_name=payload["project_name"],
        status=_status(job),
        progress=job.progress,
        created_at=isoformat_z(job.created_at),
        created_by=payload.get("created_by", ""),
        goal=payload["goal"],
        results=job.result,
        error=job.error,
        current_step=job.data.get("current_step"),
    )


@router.post("/api/build/", status_code=202, response_model=BuildAccepted, summary="Create build task")
async def create_build(
    body: BuildCreate, principal: BuildCreator, core: Core, session: DbSession
) -> BuildAccepted:
    check_project_name(body.project_name)
    if "repository_url" in body.parameters:
        check_repository_url(core, body.parameters["repository_url"])
    job = await core.jobs.submit(
        session,
        BUILD_JOB,
        {
            "project_name": body.project_name,
            "goal": body.goal,
            "parameters": body.parameters,
            "created_by": principal.username,
        },
        owner_id=principal.user_id,
        subject_id=body.project_name,
    )
    return BuildAccepted(
        task_id=str(job.id), status="initializing", message="Build task created successfully"
    )


@router.get("/api/build/", response_model=BuildHistory, summary="Get build history")
async def build_history(
    principal: BuildReader,
    core: Core,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> BuildHistory:
    everyone = principal.is_admin or "viewer" in principal.roles
    jobs, total = await core.jobs.list_jobs(
        session,
        job_types=[BUILD_JOB],
        owner_id=None if everyone else principal.user_id,
        limit=limit,
        offset=offset,
    )
    return BuildHistory(total=total, limit=limit, offset=offset, builds=[build_view(job) for job in jobs])


@router.get("/api/build/{task_id}", response_model=BuildView, summary="Get build status")
async def get_build(task_id: str, principal: BuildReader, session: DbSession) -> BuildView:
    return build_view(await _load(session, principal, task_id, BUILD_JOB, "build"))


@router.delete("/api/build/{task_id}", response_model=CancelResponse, summary="Cancel build")
async def cancel_build(
    task_id: str, principal: BuildCanceller, core: Core, session: DbSession
) -> CancelResponse:
    job = await _load(session, principal, task_id, BUILD_JOB, "build")
    if job.owner_id != principal.user_id and not principal.is_admin:
        raise Forbidden("Not authorized to cancel this build")
    await core.jobs.cancel(session, job)  # 409 once completed, failed or cancelled
    return CancelResponse(message="Build task cancelled successfully")


def analysis_view(job: Job) -> AnalysisView:
    payload, result = job.payload, job.result or {}
    issues = [
        SecurityIssueView(
            issue=item["issue"],
            severity=item["severity"],
            line=item["line"],
            recommendation=item["recommendation"],
            file=item["file"],
            test_id=item["test_id"],
        )
        for item in result.get("security_issues", [])
    ]
    smells = result.get("code_smells")
    details = {
        key: result[key]
        for key in (
            "code_smells",
            "type_error_details",
            "untested_functions",
            "tests_passed",
            "tests_failed",
            "files_analysed",
            "lines_analysed",
            "quality",
            "tool_failures",
        )
        if key in result
    }
    return AnalysisView(
        analysis_id=str(job.id),
        project_name=payload["project_name"],
        timestamp=isoformat_z(job.finished_at or job.created_at),
        performed_by=payload.get("performed_by", ""),
        status=_status(job),
        quality_score=result.get("quality_score"),
        security_issues=issues,
        code_smells=len(smells) if isinstance(smells, list) else None,
        type_errors=result.get("type_errors"),
        coverage_percent=result.get("coverage_percent"),
        recommendations=list(result.get("recommendations", [])),
        error=job.error,
        details=details or None,
    )


@router.post("/api/analysis/", status_code=202, response_model=AnalysisView, summary="Create analysis task")
async def create_analysis(body: AnalysisCreate, principal: AnalysisCreator, core: Core) -> AnalysisView:
    check_project_name(body.project_name)
    existing_project(core, principal.user_id, body.project_name)
    # its own transaction, so the job is handed to a runner now: the answer waits for it (briefly) below
    async with core.db.transaction() as session:
        job = await core.jobs.submit(
            session,
            ANALYSIS_JOB,
            {
                "project_name": body.project_name,
                "analysis_types": sorted(set(body.analysis_types)),
                "performed_by": principal.username,
            },
            owner_id=principal.user_id,
            subject_id=body.project_name,
        )
    return await _wait_for(core, job.id, core.settings.builds.analysis_wait_s)


async def _wait_for(core: CoreServices, job_id: uuid.UUID, seconds: float) -> AnalysisView:
    """The document answers POST with the results; wait up to `builds.analysis_wait_s` for them, then
    answer with the task as it stands (status running, results null) for GET to complete."""
    deadline = time.monotonic() + seconds
    while True:
        async with core.db.transaction() as session:
            job = await session.get(Job, job_id)
            assert job is not None
            if job.status in states.TERMINAL or time.monotonic() >= deadline:
                return analysis_view(job)
        await asyncio.sleep(0.1)


@router.get("/api/analysis/{analysis_id}", response_model=AnalysisView, summary="Get analysis results")
async def get_analysis(analysis_id: str, principal: AnalysisReader, session: DbSession) -> AnalysisView:
    return analysis_view(await _load(session, principal, analysis_id, ANALYSIS_JOB, "analysis"))
