"""spec 004 job handlers: `build` (plan, write, test) and `analysis` (the analysis engine on a project).

A project's own code (its tests) only ever runs in a throwaway sandbox VM; the static analysis tools run
on the host because they only read the code (engines/analysis `SplitRunner`). Every step is logged to the
job log, so the logs engine and `/api/v1/logs` see it too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from pentad.core.context import CoreServices
from pentad.core.jobs.context import JobContext
from pentad.core.jobs.registry import JobRegistry, JobSpec
from pentad.engines.analysis import (
    AnalysisSettings,
    LocalCommandRunner,
    SandboxCommandRunner,
    SplitRunner,
    analyze,
    run_tests,
)
from pentad.engines.llm.access import llm_service
from pentad.engines.sandbox import VmSpec
from pentad.engines.sandbox.access import sandbox_driver
from pentad.surfaces.builds.codegen import CodeWriter, LLMCodeWriter, WrittenFile
from pentad.surfaces.builds.projects import check_repository_url, clone, project_dir, projects_root

BUILD_JOB = "build"
ANALYSIS_JOB = "analysis"
MAX_EXISTING_LISTED = 200
WRITER_KEY = "builds_code_writer"


def code_writer(core: CoreServices) -> CodeWriter:
    """The configured writer; tests or deployments may place another CodeWriter under WRITER_KEY."""
    writer = core.extras.get(WRITER_KEY)
    if writer is None:
        writer = LLMCodeWriter(llm_service(core), core.settings.builds)
        core.extras[WRITER_KEY] = writer
    return cast(CodeWriter, writer)


@asynccontextmanager
async def sandbox_vm(core: CoreServices, label: str) -> AsyncIterator[SandboxCommandRunner]:
    """A fresh VM for running a project's code, destroyed afterwards whatever happens."""
    driver = sandbox_driver(core)
    settings = core.settings.builds
    vm_id = str(uuid.uuid4())
    await driver.create(VmSpec(name=label, memory_mb=settings.vm_memory_mb), vm_id=vm_id)
    try:
        await driver.start(vm_id)
        yield SandboxCommandRunner(driver, vm_id, python=settings.vm_python)
    finally:
        await driver.destroy(vm_id)


def _existing(path: Path) -> list[str]:
    found = []
    for item in sorted(path.rglob("*")):
        if item.is_file() and ".git" not in item.parts:
            found.append(item.relative_to(path).as_posix())
        if len(found) >= MAX_EXISTING_LISTED:
            break
    return found


def _write(root: Path, written: WrittenFile) -> None:
    target = (root / written.path).resolve()
    if root not in target.parents:
        raise ValueError(f"refusing to write outside the project: {written.path}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(written.content, encoding="utf-8")


async def run_build(ctx: JobContext) -> dict[str, Any]:
    core: CoreServices = ctx.resources["core"]
    settings = core.settings.builds
    payload = ctx.payload
    name, goal, parameters = payload["project_name"], payload["goal"], dict(payload.get("parameters") or {})
    assert ctx.owner_id is not None
    root = project_dir(core, ctx.owner_id, name)

    await ctx.progress(5, current_step="Preparing workspace", files_created=0)
    repository = parameters.get("repository_url")
    if repository and not root.exists():
        url = check_repository_url(core, repository)
        await ctx.log(f"cloning {url}")
        await clone(url, root, settings.clone_timeout_s)
    root.mkdir(parents=True, exist_ok=True)
    existing = await asyncio.to_thread(_existing, root)
    await ctx.log(f"workspace {name} ready with {len(existing)} files")

    writer = code_writer(core)
    await ctx.progress(10, current_step="Planning", files_created=0)
    plan = await writer.plan(goal, parameters, existing)
    await ctx.log(f"plan ({plan.source}, model {writer.model}): {', '.join(plan.files)}")

    created: list[str] = []
    notes: dict[str, list[str]] = {}
    for index, path in enumerate(plan.files):
        percent = 15 + 55 * index // len(plan.files)
        await ctx.progress(percent, current_step="Generating code", files_created=len(created), file=path)
        written = await writer.write(path, goal, parameters, plan)
        await asyncio.to_thread(_write, root, written)
        created.append(path)
        if written.notes:
            notes[path] = written.notes
        await ctx.log(f"wrote {path} ({len(written.content)} bytes)", notes=written.notes)

    await ctx.progress(75, current_step="Running tests", files_created=len(created))
    async with sandbox_vm(core, f"build-{ctx.job_id.hex[:8]}") as runner:
        tests = await run_tests(
            root,
            runner=runner,
            settings=AnalysisSettings(coverage_timeout_s=settings.test_timeout_s),
            allowed_root=projects_root(core),
        )
    await ctx.log(
        f"tests: {tests.passed} passed, {tests.failed} failed, coverage {tests.coverage_percent}"
        + (f" ({tests.error})" if tests.error else "")
    )
    await ctx.progress(95, current_step="Reporting", files_created=len(created))
    return {
        "project_name": name,
        "generated_files": created,
        "tests_passed": tests.passed,
        "tests_failed": tests.failed,
        "test_coverage": tests.coverage_percent,
        "test_error": tests.error[-600:] if tests.error else None,  # the end of pytest's story
        "plan_source": plan.source,
        "model": writer.model,
        "notes": notes,
    }


async def run_analysis(ctx: JobContext) -> dict[str, Any]:
    core: CoreServices = ctx.resources["core"]
    payload = ctx.payload
    assert ctx.owner_id is not None
    root = project_dir(core, ctx.owner_id, payload["project_name"])
    if not root.is_dir():
        raise FileNotFoundError(f"project '{payload['project_name']}' does not exist")
    types = list(payload["analysis_types"])

    async def progress(percent: int, step: str) -> None:
        await ctx.progress(percent, current_step=step)

    await ctx.log(f"analysing {payload['project_name']}: {', '.join(types)}")
    async with sandbox_vm(core, f"analysis-{ctx.job_id.hex[:8]}") as in_vm:
        runner = SplitRunner(LocalCommandRunner(), in_vm)
        result = await analyze(
            root, types, runner=runner, progress=progress, allowed_root=projects_root(core)
        )
    for failure in result.tool_failures:
        await ctx.log(f"{failure.tool} failed: {failure.message}", level="warning")
    await ctx.log(
        f"analysis done: quality {result.quality_score}, {len(result.security_issues)} security issues"
    )
    return result.model_dump(mode="json")


def register(registry: JobRegistry) -> None:
    registry.register(JobSpec(BUILD_JOB, run_build, timeout_seconds=1800, on_interrupt="fail"))
    registry.register(JobSpec(ANALYSIS_JOB, run_analysis, timeout_seconds=900, on_interrupt="requeue"))
