"""Health, readiness, metrics (JSON and Prometheus) with real figures from real traffic."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from pentad.core.db import Database
from tests.helpers import RunningApp, SettingsFactory, free_port


async def test_health_liveness(running: RunningApp) -> None:
    body = (await running.client.get("/health")).json()
    assert body["status"] == "ok"
    assert body["service"] == "vectoros-backend"
    assert body["timestamp"].endswith("Z")


async def test_ready_reports_database(running: RunningApp) -> None:
    # the first probe starts loading the model (on a fresh data dir: assembling it first); until it is
    # loaded readiness is 503 with the database healthy
    for _ in range(300):
        response = await running.client.get("/ready")
        if response.status_code == 200:
            break
        assert response.json()["database"]["healthy"] is True
        assert response.json()["inference"]["healthy"] is False
        await asyncio.sleep(0.2)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["database"]["healthy"] is True
    assert body["database"]["latency_ms"] >= 0


async def test_ready_all_has_components_and_measured_percentiles(running: RunningApp) -> None:
    for _ in range(20):
        await running.client.get("/health")
    body = (await running.client.get("/ready/all")).json()
    assert body["services"]["database"]["healthy"] is True
    assert body["services"]["cache"]["backend"] == "memory"
    percentiles = body["latency_percentiles"]
    assert 0 < percentiles["p50_ms"] <= percentiles["p90_ms"] <= percentiles["p99_ms"]


async def test_readiness_fails_when_database_is_gone(
    make_settings: SettingsFactory, start_app: object
) -> None:
    app: RunningApp = await start_app(make_settings())  # type: ignore[operator]
    # A real fault, not a stand-in: point the service at a PostgreSQL port where nothing listens.
    healthy_db = app.core.db
    app.core.db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test")
    await healthy_db.dispose()
    response = await app.client.get("/ready")
    assert response.status_code == 503
    assert response.json()["database"]["healthy"] is False
    probe = await app.client.get("/api/health/ready")
    assert probe.status_code == 503


async def test_json_metrics_count_requests_by_class(running: RunningApp) -> None:
    await running.client.get("/health")
    await running.client.get("/v1/missing")
    await running.client.get("/v1/missing")
    body = (await running.client.get("/metrics")).json()
    http = body["http"]
    assert http["requests_success"] >= 1
    assert http["requests_client_error"] >= 2
    assert (
        http["requests_total"]
        == http["requests_success"] + http["requests_client_error"] + http["requests_server_error"]
    )
    assert http["active_requests"] == 1  # this request itself
    assert body["uptime_seconds"] >= 0
    assert set(body["inference"]) >= {"requests_total", "tokens_total", "time_avg_ms"}


async def test_prometheus_exposition_parses(running: RunningApp) -> None:
    await running.client.get("/v1/missing")
    response = await running.client.get("/metrics/prometheus")
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert "app_uptime_seconds" in families
    requests = {tuple(sample.labels.items()): sample.value for sample in families["http_requests"].samples}
    assert requests[(("status", "client_error"),)] >= 1
    assert "inference_time_ms" in families


async def test_spec004_health_endpoints(running: RunningApp) -> None:
    basic = (await running.client.get("/api/health/")).json()
    assert basic["status"] == "healthy"
    assert basic["version"] == "3.0.0"
    assert (await running.client.get("/api/health/live")).status_code == 200
    assert (await running.client.get("/api/health/ready")).status_code == 200
    # the local model loads on the first inference probe; until then only that component is down
    for _ in range(150):
        status = (await running.client.get("/api/health/status")).json()
        if status["status"] == "operational":
            break
        assert status["status"] == "degraded"
        assert {name for name, value in status["components"].items() if value != "healthy"} == {"inference"}
        await asyncio.sleep(0.2)
    assert status["status"] == "operational", status
    assert status["components"]["database"] == "healthy"
    assert set(status["metrics"]) == {
        "uptime_seconds",
        "requests_total",
        "requests_per_second",
        "memory_percent",
        "cpu_percent",
    }
    assert status["metrics"]["requests_total"] >= 3
    assert status["metrics"]["memory_percent"] > 0


async def test_crm_api_info(running: RunningApp) -> None:
    assert (await running.client.get("/api/v1")).json() == {"message": "VectorOS API v1", "version": "0.1.0"}


async def test_openapi_documents_every_route(running: RunningApp) -> None:
    spec = (await running.client.get("/api-docs/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/api/auth/login",
        "/auth/login",
        "/health",
        "/ready/all",
        "/metrics/prometheus",
        "/api/health/status",
    ):
        assert path in spec["paths"], path
    login = spec["paths"]["/api/auth/login"]["post"]
    assert "requestBody" in login
    assert "200" in login["responses"]
    redoc = await running.client.get("/redoc/")
    assert redoc.status_code == 200
    assert "cdn" not in redoc.text.lower()
    swagger = await running.client.get("/swagger-ui/")
    assert "cdn" not in swagger.text.lower()


async def test_switched_off_surface_is_absent(make_settings: SettingsFactory, start_app: object) -> None:
    app: RunningApp = await start_app(make_settings(surfaces={"builds": False, "crm": False}))  # type: ignore[operator]
    assert (await app.client.post("/auth/login", json={"username": "a", "password": "b"})).status_code == 404
    assert (await app.client.get("/api/v1")).status_code == 404
    assert (await app.client.get("/health")).json()["service"] == "pentad"
    spec = (await app.client.get("/api-docs/openapi.json")).json()
    assert "/auth/login" not in spec["paths"]
    assert "/api/auth/login" in spec["paths"]
