"""spec 004 (build and analysis API): `BuildClient` / `AsyncBuildClient` for login, build tasks
(create, get, history, cancel, `wait()` polling to the end, `watch()` over the WebSocket), code analyses
and the health probes.

Authentication: `login(username, password)` (the client then uses and refreshes the JWT), or `token=`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import Field

from pentad.sdk._core import Call, Model, TokenGrant, compact, parse_model, parse_nothing
from pentad.sdk._transport import AsyncClient, SyncClient
from pentad.sdk.errors import PentadError, TaskTimeoutError
from pentad.sdk.websocket import AsyncWebSocketStream, WebSocketStream

__all__ = [
    "Analysis",
    "AsyncBuildClient",
    "Build",
    "BuildAccepted",
    "BuildClient",
    "BuildHealth",
    "BuildPage",
    "BuildToken",
    "BuildUpdate",
    "CancelResult",
    "Probe",
    "SecurityIssue",
    "ServiceStatus",
]

TERMINAL = frozenset({"completed", "failed", "cancelled"})


class BuildToken(Model):
    access_token: str
    token_type: str = "bearer"
    expires_in: int | None = None
    refresh_token: str | None = None


class BuildAccepted(Model):
    task_id: str
    status: str
    message: str | None = None


class Build(Model):
    task_id: str
    project_name: str
    status: str
    progress: int = 0
    created_at: datetime
    created_by: str | None = None
    goal: str | None = None
    results: dict[str, Any] | None = None
    error: str | None = None
    current_step: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


class BuildPage(Model):
    total: int
    limit: int
    offset: int
    builds: list[Build]


class CancelResult(Model):
    message: str


class SecurityIssue(Model):
    issue: str
    severity: str
    line: int | None = None
    recommendation: str | None = None
    file: str | None = None


class Analysis(Model):
    """The document answers the create call with the whole analysis; the server waits a little for it,
    and an analysis still running has its results None (`wait()` polls it to the end)."""

    analysis_id: str
    project_name: str
    status: str | None = None
    timestamp: datetime | None = None
    performed_by: str | None = None
    quality_score: float | None = None
    security_issues: list[SecurityIssue] = Field(default_factory=list)
    code_smells: int | None = None
    type_errors: int | None = None
    coverage_percent: float | None = None
    recommendations: list[str] = Field(default_factory=list)
    error: str | None = None
    details: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.status is None or self.status in TERMINAL


class BuildUpdate(Model):
    """A `/api/ws/build/{id}` (or analysis) message: `progress`, `completion` or `error`."""

    type: str
    task_id: str | None = None
    status: str | None = None
    progress: int | None = None
    timestamp: datetime | None = None
    data: dict[str, Any] | None = None
    results: dict[str, Any] | None = None
    error: str | None = None


class BuildHealth(Model):
    status: str
    timestamp: datetime
    version: str


class Probe(Model):
    status: str
    timestamp: datetime | None = None
    checks: dict[str, Any] = Field(default_factory=dict)


class ServiceStatus(Model):
    status: str
    timestamp: datetime
    version: str
    components: dict[str, str]
    metrics: dict[str, float]


# --- operations -----------------------------------------------------------------------------------


def _refresh(refresh_token: str) -> Call[TokenGrant]:
    return Call(
        "POST", "/auth/refresh", parse_model(TokenGrant), json={"refresh_token": refresh_token}, refresh=False
    )


def _login(username: str, password: str) -> Call[BuildToken]:
    body = {"username": username, "password": password}
    return Call("POST", "/auth/login", parse_model(BuildToken), json=body, refresh=False)


def _logout(refresh_token: str | None) -> Call[None]:
    return Call(
        "POST", "/auth/logout", parse_nothing, json=compact(refresh_token=refresh_token), refresh=False
    )


def _create_build(project_name: str, goal: str, parameters: Mapping[str, Any] | None) -> Call[BuildAccepted]:
    body = {"project_name": project_name, "goal": goal, "parameters": dict(parameters or {})}
    return Call("POST", "/api/build/", parse_model(BuildAccepted), json=body)


def _build(task_id: str) -> Call[Build]:
    return Call("GET", f"/api/build/{task_id}", parse_model(Build))


def _history(limit: int | None, offset: int | None) -> Call[BuildPage]:
    return Call("GET", "/api/build/", parse_model(BuildPage), params=compact(limit=limit, offset=offset))


def _cancel(task_id: str) -> Call[CancelResult]:
    return Call("DELETE", f"/api/build/{task_id}", parse_model(CancelResult))


def _create_analysis(project_name: str, analysis_types: Sequence[str] | None) -> Call[Analysis]:
    body = compact(project_name=project_name, analysis_types=list(analysis_types) if analysis_types else None)
    return Call("POST", "/api/analysis/", parse_model(Analysis), json=body)


def _analysis(analysis_id: str) -> Call[Analysis]:
    return Call("GET", f"/api/analysis/{analysis_id}", parse_model(Analysis))


def _update(message: dict[str, Any]) -> BuildUpdate:
    return BuildUpdate.model_validate(message)


def _is_connected(message: dict[str, Any]) -> bool:
    return message.get("type") == "connected"


_HEALTH = Call("GET", "/api/health/", parse_model(BuildHealth))
_READY = Call("GET", "/api/health/ready", parse_model(Probe), ok=frozenset({503}), retry=False)
_LIVE = Call("GET", "/api/health/live", parse_model(Probe), ok=frozenset({503}), retry=False)
_STATUS = Call("GET", "/api/health/status", parse_model(ServiceStatus))


def _expired(deadline: float | None, what: str, status: str | None, body: Model) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TaskTimeoutError(f"{what} still {status}", code="wait_timeout", body=body)


# --- sync client ----------------------------------------------------------------------------------


class Builds:
    def __init__(self, client: BuildClient) -> None:
        self._client = client

    def create(
        self,
        project_name: str,
        goal: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> BuildAccepted:
        return self._client._send(_create_build(project_name, goal, parameters), idempotency_key)

    def get(self, task_id: str) -> Build:
        return self._client._send(_build(task_id))

    def list(self, *, limit: int | None = None, offset: int | None = None) -> BuildPage:
        """The caller's builds, newest first."""
        return self._client._send(_history(limit, offset))

    def cancel(self, task_id: str) -> CancelResult:
        """409 (`ConflictError`) once the build completed, failed or was cancelled."""
        return self._client._send(_cancel(task_id))

    def wait(
        self,
        task_id: str,
        *,
        poll_interval: float = 2.0,
        timeout: float | None = None,
        on_progress: Callable[[Build], None] | None = None,
    ) -> Build:
        """The document's polling loop: `get` every `poll_interval` seconds until the build completes,
        fails or is cancelled, calling `on_progress` with each state; `TaskTimeoutError` after `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            build = self.get(task_id)
            if on_progress is not None:
                on_progress(build)
            if build.finished:
                return build
            _expired(deadline, f"build {task_id}", f"{build.status} ({build.progress}%)", build)
            time.sleep(poll_interval)

    def watch(self, task_id: str, *, timeout: float = 10.0) -> WebSocketStream[BuildUpdate]:
        """Progress over `/api/ws/build/{id}`: the current state first, then each change; the iteration
        ends when the build does."""
        return _watch(self._client, f"/api/ws/build/{task_id}", timeout)


class Analyses:
    def __init__(self, client: BuildClient) -> None:
        self._client = client

    def create(
        self,
        project_name: str,
        analysis_types: Sequence[str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Analysis:
        """`analysis_types` among `quality`, `security`, `types`."""
        return self._client._send(_create_analysis(project_name, analysis_types), idempotency_key)

    def get(self, analysis_id: str) -> Analysis:
        return self._client._send(_analysis(analysis_id))

    def wait(self, analysis_id: str, *, poll_interval: float = 1.0, timeout: float | None = None) -> Analysis:
        """Poll until the analysis completes, fails or is cancelled; `TaskTimeoutError` after `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            analysis = self.get(analysis_id)
            if analysis.finished:
                return analysis
            _expired(deadline, f"analysis {analysis_id}", analysis.status, analysis)
            time.sleep(poll_interval)

    def watch(self, analysis_id: str, *, timeout: float = 10.0) -> WebSocketStream[BuildUpdate]:
        return _watch(self._client, f"/api/ws/analysis/{analysis_id}", timeout)


def _watch(client: BuildClient, path: str, timeout: float) -> WebSocketStream[BuildUpdate]:
    stream = client._transport.websocket(path, _update, open_timeout=timeout)
    try:
        stream.wait_for(_is_connected, timeout)
    except BaseException:
        stream.close()
        raise
    return stream


class BuildClient(SyncClient):
    """spec 004, synchronous."""

    @cached_property
    def builds(self) -> Builds:
        return Builds(self)

    @cached_property
    def analysis(self) -> Analyses:
        return Analyses(self)

    @classmethod
    def _refresher(cls) -> Callable[[str], Call[TokenGrant]]:
        return _refresh

    def login(self, username: str, password: str) -> BuildToken:
        """Get a JWT; the client then sends it, and refreshes it once it expires."""
        token = self._send(_login(username, password))
        self._transport.credentials.apply(
            TokenGrant(access_token=token.access_token, refresh_token=token.refresh_token)
        )
        return token

    def refresh(self) -> TokenGrant:
        if self.refresh_token is None:
            raise PentadError("no refresh token: log in first", code="no_refresh_token")
        grant = self._send(_refresh(self.refresh_token))
        self._transport.credentials.apply(grant)
        return grant

    def logout(self) -> None:
        self._send(_logout(self.refresh_token))
        self._transport.credentials.clear()

    def health(self) -> BuildHealth:
        return self._send(_HEALTH)

    def ready(self) -> Probe:
        return self._send(_READY)

    def live(self) -> Probe:
        return self._send(_LIVE)

    def status(self) -> ServiceStatus:
        return self._send(_STATUS)


# --- async client ---------------------------------------------------------------------------------


class AsyncBuilds:
    def __init__(self, client: AsyncBuildClient) -> None:
        self._client = client

    async def create(
        self,
        project_name: str,
        goal: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> BuildAccepted:
        return await self._client._send(_create_build(project_name, goal, parameters), idempotency_key)

    async def get(self, task_id: str) -> Build:
        return await self._client._send(_build(task_id))

    async def list(self, *, limit: int | None = None, offset: int | None = None) -> BuildPage:
        return await self._client._send(_history(limit, offset))

    async def cancel(self, task_id: str) -> CancelResult:
        return await self._client._send(_cancel(task_id))

    async def wait(
        self,
        task_id: str,
        *,
        poll_interval: float = 2.0,
        timeout: float | None = None,
        on_progress: Callable[[Build], None] | None = None,
    ) -> Build:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            build = await self.get(task_id)
            if on_progress is not None:
                on_progress(build)
            if build.finished:
                return build
            _expired(deadline, f"build {task_id}", f"{build.status} ({build.progress}%)", build)
            await asyncio.sleep(poll_interval)

    async def watch(self, task_id: str, *, timeout: float = 10.0) -> AsyncWebSocketStream[BuildUpdate]:
        return await _awatch(self._client, f"/api/ws/build/{task_id}", timeout)


class AsyncAnalyses:
    def __init__(self, client: AsyncBuildClient) -> None:
        self._client = client

    async def create(
        self,
        project_name: str,
        analysis_types: Sequence[str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Analysis:
        return await self._client._send(_create_analysis(project_name, analysis_types), idempotency_key)

    async def get(self, analysis_id: str) -> Analysis:
        return await self._client._send(_analysis(analysis_id))

    async def wait(
        self, analysis_id: str, *, poll_interval: float = 1.0, timeout: float | None = None
    ) -> Analysis:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            analysis = await self.get(analysis_id)
            if analysis.finished:
                return analysis
            _expired(deadline, f"analysis {analysis_id}", analysis.status, analysis)
            await asyncio.sleep(poll_interval)

    async def watch(self, analysis_id: str, *, timeout: float = 10.0) -> AsyncWebSocketStream[BuildUpdate]:
        return await _awatch(self._client, f"/api/ws/analysis/{analysis_id}", timeout)


async def _awatch(client: AsyncBuildClient, path: str, timeout: float) -> AsyncWebSocketStream[BuildUpdate]:
    stream = await client._transport.websocket(path, _update, open_timeout=timeout)
    try:
        await stream.wait_for(_is_connected, timeout)
    except BaseException:
        await stream.aclose()
        raise
    return stream


class AsyncBuildClient(AsyncClient):
    """spec 004, asynchronous."""

    @cached_property
    def builds(self) -> AsyncBuilds:
        return AsyncBuilds(self)

    @cached_property
    def analysis(self) -> AsyncAnalyses:
        return AsyncAnalyses(self)

    @classmethod
    def _refresher(cls) -> Callable[[str], Call[TokenGrant]]:
        return _refresh

    async def login(self, username: str, password: str) -> BuildToken:
        token = await self._send(_login(username, password))
        self._transport.credentials.apply(
            TokenGrant(access_token=token.access_token, refresh_token=token.refresh_token)
        )
        return token

    async def refresh(self) -> TokenGrant:
        if self.refresh_token is None:
            raise PentadError("no refresh token: log in first", code="no_refresh_token")
        grant = await self._send(_refresh(self.refresh_token))
        self._transport.credentials.apply(grant)
        return grant

    async def logout(self) -> None:
        await self._send(_logout(self.refresh_token))
        self._transport.credentials.clear()

    async def health(self) -> BuildHealth:
        return await self._send(_HEALTH)

    async def ready(self) -> Probe:
        return await self._send(_READY)

    async def live(self) -> Probe:
        return await self._send(_LIVE)

    async def status(self) -> ServiceStatus:
        return await self._send(_STATUS)
