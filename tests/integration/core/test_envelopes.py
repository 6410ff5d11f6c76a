"""Each document's error envelope, exactly as it shows it, for unknown paths, wrong methods and bad bodies."""

from __future__ import annotations

from datetime import datetime

from tests.helpers import RunningApp


async def test_spec000_envelope(running: RunningApp) -> None:
    response = await running.client.get("/api/goldrush/patterns/pat_xyz/nothing")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "RESOURCE_NOT_FOUND"


async def test_spec001_envelope(running: RunningApp) -> None:
    response = await running.client.get("/v1/unknown")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["code"] == "NOT_FOUND"


async def test_spec002_envelope(running: RunningApp) -> None:
    response = await running.client.get("/api/v1/workspaces/unknown/nothing")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error", "code", "details"}
    assert isinstance(body["error"], str)
    assert body["code"] == "NOT_FOUND"


async def test_spec003_envelope(running: RunningApp) -> None:
    response = await running.client.get("/api/v1/vms/unknown/nothing")
    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "message": "No route for GET /api/v1/vms/unknown/nothing",
        "code": 404,
    }


async def test_spec004_envelope(running: RunningApp) -> None:
    response = await running.client.get("/api/build/x/y/z")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error", "detail", "status_code", "timestamp"}
    assert body["status_code"] == 404
    assert body["timestamp"].endswith("Z")
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))


async def test_405_in_owning_envelope(running: RunningApp) -> None:
    vsm = await running.client.delete("/api/auth/login")
    assert vsm.status_code == 405
    assert vsm.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    builds = await running.client.put("/auth/login")
    assert builds.status_code == 405
    assert builds.json()["error"] == "method_not_allowed"


async def test_validation_failure_lists_fields(running: RunningApp) -> None:
    vsm = await running.client.post("/api/auth/login", json={"email": "not-an-email"})
    assert vsm.status_code == 422
    fields = {item["field"] for item in vsm.json()["error"]["details"]["fields"]}
    assert fields == {"email", "password"}
    builds = await running.client.post("/auth/login", json={"username": ""})
    assert builds.status_code == 422
    body = builds.json()
    assert body["error"] == "validation_error"
    assert {item["field"] for item in body["fields"]} == {"username", "password"}


async def test_malformed_json_is_400(running: RunningApp) -> None:
    response = await running.client.post(
        "/api/auth/login", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assistant = await running.client.post(
        "/auth/login", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert assistant.status_code == 400


async def test_no_traceback_for_hostile_input(running: RunningApp) -> None:
    hostile = [
        ("/api/auth/login", b"\xff\xfe\x00garbage"),
        ("/api/auth/login", b'{"email": {"$gt": ""}, "password": []}'),
        ("/auth/login", b'{"username": "' + b"a" * 100_000 + b'", "password": "x"}'),
        ("/api/auth/refresh", b""),
    ]
    for path, payload in hostile:
        response = await running.client.post(
            path, content=payload, headers={"Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert "Traceback" not in response.text
        assert 'File "' not in response.text
