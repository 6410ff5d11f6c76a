"""Job log lines reach a Loki push endpoint over real HTTP when `gateway.loki_url` is set, and a Loki
that is down does not fail the job."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pentad.core.jobs.models import Job
from pentad.engines.logs.store import LogQuery
from tests.helpers import RunningApp, SettingsFactory, free_port
from tests.receivers import LocalServer

PLUGIN = {"extra_modules": ["tests.fixtures.core_jobs"], "poll_seconds": 0.1}


class FakeLoki:
    """Speaks Loki's push API: JSON streams, 204 No Content."""

    def __init__(self) -> None:
        self.pushes: list[dict[str, Any]] = []

    async def push(self, request: Request) -> Response:
        self.pushes.append(json.loads(await request.body()))
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/loki/api/v1/push", self.push, methods=["POST"])])


async def run_job(app: RunningApp) -> Job:
    async with app.core.db.transaction() as session:
        job_id: uuid.UUID = (await app.core.jobs.submit(session, "test:steps", {"count": 3})).id
    for _ in range(200):
        async with app.core.db.transaction() as session:
            job = await session.get(Job, job_id)
            assert job is not None
            if job.status in ("completed", "failed"):
                return job
        await asyncio.sleep(0.05)
    raise AssertionError("job did not finish")


async def test_job_logs_are_pushed_to_loki(make_settings: SettingsFactory, start_app: Any) -> None:
    loki = FakeLoki()
    server = LocalServer(loki.app())
    await server.start()
    try:
        app: RunningApp = await start_app(
            make_settings(jobs=PLUGIN, gateway={"loki_url": f"http://127.0.0.1:{server.port}"})
        )
        job = await run_job(app)
        assert job.status == "completed"
        lines = [
            json.loads(value[1])
            for push in loki.pushes
            for stream in push["streams"]
            for value in stream["values"]
        ]
        assert [line["message"] for line in lines] == [
            "finished step 1",
            "finished step 2",
            "finished step 3",
        ]
        assert {line["task_id"] for line in lines} == {str(job.id)}
        labels = loki.pushes[0]["streams"][0]["stream"]
        assert labels == {"service": "pentad", "level": "info", "source": "job"}
    finally:
        await server.stop()


async def test_loki_down_does_not_fail_jobs(make_settings: SettingsFactory, start_app: Any) -> None:
    app: RunningApp = await start_app(
        make_settings(jobs=PLUGIN, gateway={"loki_url": f"http://127.0.0.1:{free_port()}"})
    )
    job = await run_job(app)
    assert job.status == "completed"
    assert app.core.extras["loki"].failures == 3
    _records, total = await app.core.extras["log_store"].query(LogQuery(task_id=str(job.id)))
    assert total == 3  # the searchable store still has every line
