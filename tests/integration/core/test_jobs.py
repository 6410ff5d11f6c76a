"""Durable jobs on the in-process runner: state machine, progress, retries, time limits, cancellation,
and recovery after the process running them stops. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from pentad.core import channels
from pentad.core.jobs import states
from pentad.core.jobs.models import Job
from tests.helpers import RunningApp, SettingsFactory

PLUGIN = {"extra_modules": ["tests.fixtures.core_jobs"], "heartbeat_seconds": 0.2, "poll_seconds": 0.1}


async def submit(app: RunningApp, job_type: str, payload: dict[str, Any] | None = None) -> uuid.UUID:
    async with app.core.db.transaction() as session:
        job = await app.core.jobs.submit(session, job_type, payload or {})
        return job.id  # type: ignore[no-any-return]


async def wait_for_status(app: RunningApp, job_id: uuid.UUID, wanted: set[str], timeout: float = 10) -> Job:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with app.core.db.transaction() as session:
            job = await session.get(Job, job_id)
            assert job is not None
            if job.status in wanted:
                return job
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job is {job.status}, wanted {wanted}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def jobs_app(backend: str, make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    return await start_app(make_settings(backend, jobs=PLUGIN))  # type: ignore[no-any-return]


def test_state_machine_refuses_illegal_transitions() -> None:
    for terminal in states.TERMINAL:
        for target in ("pending", "running", "completed", "failed", "cancelled"):
            with pytest.raises(states.IllegalTransition):
                states.check_transition(terminal, target)
    states.check_transition("pending", "running")
    states.check_transition("running", "pending")  # retry
    with pytest.raises(states.IllegalTransition):
        states.check_transition("pending", "completed")


async def test_job_runs_and_reports_progress_in_order(jobs_app: RunningApp) -> None:
    subscription = jobs_app.core.bus.subscribe(["job.*"])
    job_id = await submit(jobs_app, "test:steps", {"count": 4})
    events: list[tuple[str, int, str]] = []
    while True:
        message = await subscription.get(timeout=10)
        assert message is not None, "no event arrived"
        if message.channel != channels.job(job_id) or message.type == "log":
            continue
        events.append((message.type, message.payload["progress"], message.payload["status"]))
        if message.type == "completion":
            break
    assert events[0] == ("status", 0, "running")
    assert [e[1] for e in events if e[0] == "progress"] == [25, 50, 75, 100]
    assert events[-1] == ("completion", 100, "completed")
    job = await wait_for_status(jobs_app, job_id, {"completed"})
    assert job.result == {"steps": 4}
    assert job.data["current_step"] == "step 4"
    assert job.finished_at is not None
    async with jobs_app.core.db.transaction() as session:
        logs = await jobs_app.core.jobs.logs(session, job_id)
    assert [line.message for line in logs] == [f"finished step {n}" for n in range(1, 5)]


async def test_retries_with_backoff_then_succeeds(jobs_app: RunningApp) -> None:
    job_id = await submit(jobs_app, "test:flaky", {"succeed_on": 3})
    job = await wait_for_status(jobs_app, job_id, {"completed", "failed"})
    assert job.status == "completed"
    assert job.attempts == 3
    assert job.result == {"attempt": 3}


async def test_gives_up_after_max_attempts(jobs_app: RunningApp) -> None:
    job_id = await submit(jobs_app, "test:always-fails", {"succeed_on": 99})
    job = await wait_for_status(jobs_app, job_id, {"completed", "failed"})
    assert job.status == "failed"
    assert job.attempts == 2
    assert "failed on purpose" in (job.error or "")


async def test_time_limit_fails_the_job(jobs_app: RunningApp) -> None:
    job_id = await submit(jobs_app, "test:timeout")
    job = await wait_for_status(jobs_app, job_id, {"failed"})
    assert job.error == "timed out after 0.2 s"


async def test_cancel_stops_a_running_handler(jobs_app: RunningApp, tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    job_id = await submit(jobs_app, "test:steps", {"count": 200, "delay": 0.05, "trace": str(trace)})
    await wait_for_status(jobs_app, job_id, {"running"})
    while not trace.exists():
        await asyncio.sleep(0.02)
    async with jobs_app.core.db.transaction() as session:
        job = await jobs_app.core.jobs.get(session, job_id)
        await jobs_app.core.jobs.cancel(session, job)
    job = await wait_for_status(jobs_app, job_id, {"cancelled"})
    await asyncio.sleep(0.3)  # long enough for several more steps had the handler kept going
    steps_at_cancel = trace.read_text().split()
    await asyncio.sleep(0.3)
    assert trace.read_text().split() == steps_at_cancel
    assert len(steps_at_cancel) < 200
    assert jobs_app.core.runner.active == 0


async def test_cancel_of_finished_job_is_a_conflict(jobs_app: RunningApp) -> None:
    job_id = await submit(jobs_app, "test:steps", {"count": 1})
    await wait_for_status(jobs_app, job_id, {"completed"})
    async with jobs_app.core.db.transaction() as session:
        job = await jobs_app.core.jobs.get(session, job_id)
        with pytest.raises(states.IllegalTransition) as caught:
            await jobs_app.core.jobs.cancel(session, job)
    assert caught.value.status == 409


async def test_cancel_pending_job(make_settings: SettingsFactory, start_app: Any) -> None:
    # one slot, taken by a long job: the second stays pending and is cancelled before it runs
    app: RunningApp = await start_app(make_settings(jobs={**PLUGIN, "concurrency": 1}))
    blocker = await submit(app, "test:steps", {"count": 100, "delay": 0.02})
    await wait_for_status(app, blocker, {"running"})
    queued = await submit(app, "test:steps", {"count": 1})
    async with app.core.db.transaction() as session:
        await app.core.jobs.cancel(session, await app.core.jobs.get(session, queued))
    job = await wait_for_status(app, queued, {"cancelled"})
    assert job.started_at is None


async def test_restart_recovers_interrupted_jobs(
    backend: str, make_settings: SettingsFactory, start_app: Any
) -> None:
    settings = make_settings(backend, jobs=PLUGIN)
    first: RunningApp = await start_app(settings)
    requeue = await submit(first, "test:requeue", {"count": 30, "delay": 0.05})
    fail = await submit(first, "test:fail-on-interrupt", {"count": 30, "delay": 0.05})
    await wait_for_status(first, requeue, {"running"})
    await wait_for_status(first, fail, {"running"})
    # the runner stops mid-job, as on a deploy or shutdown
    await first.core.runner.stop()
    failed = await wait_for_status(first, fail, {"failed"})
    assert failed.error == "interrupted: the runner stopped"
    pending = await wait_for_status(first, requeue, {"pending"})
    assert "requeued" in (pending.error or "")
    second: RunningApp = await start_app(settings)
    done = await wait_for_status(second, requeue, {"completed"})
    assert done.result == {"steps": 30}


async def test_stop_releases_jobs_claimed_before_their_handler_started(jobs_app: RunningApp) -> None:
    # a cancel that lands between the claim and the handler leaves the row running and held by this
    # runner; stopping must still apply each job's interrupt policy, and leave other nodes' jobs alone
    from datetime import timedelta

    from pentad.core.db import utcnow
    from pentad.core.jobs.executor import release_interrupted
    from pentad.core.jobs.inprocess import InProcessRunner

    runner = jobs_app.core.runner
    assert isinstance(runner, InProcessRunner)
    runtime = runner.runtime
    fresh = utcnow() + timedelta(minutes=5)  # no heartbeat recovery may touch these meanwhile
    held = {"worker": runtime.worker_name, "status": "running", "attempts": 1, "heartbeat_at": fresh}
    async with jobs_app.core.db.transaction() as session:
        ours_fail = Job(type="test:fail-on-interrupt", **held)
        ours_requeue = Job(type="test:requeue", payload={"count": 1}, **held)
        theirs = Job(type="test:fail-on-interrupt", **{**held, "worker": "another-node"})
        session.add_all([ours_fail, ours_requeue, theirs])
    ids = [ours_fail.id, ours_requeue.id, theirs.id]
    assert await release_interrupted(runtime, ids, "the runner stopped") == 2
    failed = await wait_for_status(jobs_app, ours_fail.id, {"failed"})
    assert failed.error == "interrupted: the runner stopped"
    await wait_for_status(jobs_app, ours_requeue.id, {"pending", "running", "completed"})
    async with jobs_app.core.db.transaction() as session:
        other = await session.get(Job, theirs.id)
        assert other is not None
        assert other.status == "running"
        assert other.error is None
    assert await release_interrupted(runtime, [], "the runner stopped") == 0


async def test_stale_running_job_from_a_dead_process_is_recovered(jobs_app: RunningApp) -> None:
    # a row left running by a process that was killed: no heartbeat for longer than 3 beats
    from datetime import timedelta

    from pentad.core.db import utcnow

    async with jobs_app.core.db.transaction() as session:
        dead = Job(
            type="test:fail-on-interrupt",
            status="running",
            attempts=1,
            heartbeat_at=utcnow() - timedelta(seconds=5),
            started_at=utcnow() - timedelta(seconds=6),
        )
        requeued = Job(
            type="test:requeue",
            status="running",
            attempts=1,
            payload={"count": 1},
            heartbeat_at=utcnow() - timedelta(seconds=5),
            started_at=utcnow() - timedelta(seconds=6),
        )
        session.add_all([dead, requeued])
    failed = await wait_for_status(jobs_app, dead.id, {"failed"})
    assert failed.error == "interrupted: its runner stopped responding"
    finished = await wait_for_status(jobs_app, requeued.id, {"completed"})
    assert finished.attempts == 2
