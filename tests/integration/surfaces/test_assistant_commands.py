"""spec 001 commands against real protocols: an Open-Meteo look-alike over HTTP, an ICS file, a Maildir
and an IMAP server on a socket; command parsing; system status."""

from __future__ import annotations

import asyncio
import mailbox
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers import RunningApp, SettingsFactory, free_port
from tests.receivers import LocalServer

API_KEY = "sk-assistant-test-key"
USER_ID = "550e8400-e29b-41d4-a716-446655440000"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class OpenMeteo:
    """Open-Meteo's geocoding and forecast JSON, for Berlin only."""

    def __init__(self) -> None:
        self.server = LocalServer(
            Starlette(
                routes=[
                    Route("/v1/search", self.search),
                    Route("/v1/forecast", self.forecast),
                ]
            )
        )

    async def search(self, request: Request) -> JSONResponse:
        if request.query_params.get("name", "").lower() != "berlin":
            return JSONResponse({"generationtime_ms": 0.1})
        return JSONResponse({"results": [{"name": "Berlin", "latitude": 52.52, "longitude": 13.41}]})

    async def forecast(self, request: Request) -> JSONResponse:
        assert request.query_params["latitude"] == "52.52"
        return JSONResponse(
            {
                "current": {
                    "temperature_2m": 15.2,
                    "relative_humidity_2m": 60,
                    "weather_code": 2,
                    "wind_speed_10m": 11.5,
                }
            }
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


class FakeImap:
    """Enough of IMAP4rev1 for a read-only summary: LOGIN, EXAMINE, SEARCH, FETCH, LOGOUT."""

    def __init__(self, messages: list[tuple[str, str, set[str]]]) -> None:
        self.messages = messages  # (from, subject, flags)
        self.port = free_port()
        self.logins: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK IMAP4rev1 ready\r\n")
        while line := await reader.readline():
            tag, _, rest = line.decode().strip().partition(" ")
            verb, _, argument = rest.partition(" ")
            verb = verb.upper()
            if verb == "CAPABILITY":
                writer.write(b"* CAPABILITY IMAP4rev1\r\n")
            elif verb == "LOGIN":
                self.logins.append(argument.split()[0].strip('"'))
                if "wrong" in argument:
                    writer.write(f"{tag} NO authentication failed\r\n".encode())
                    continue
            elif verb in ("EXAMINE", "SELECT"):
                writer.write(f"* {len(self.messages)} EXISTS\r\n".encode())
            elif verb == "SEARCH":
                wanted = {word.upper() for word in argument.split()}
                hits = [
                    str(i + 1)
                    for i, (_f, _s, flags) in enumerate(self.messages)
                    if "\\Seen" not in flags and ("FLAGGED" not in wanted or "\\Flagged" in flags)
                ]
                writer.write(f"* SEARCH {' '.join(hits)}\r\n".encode())
            elif verb == "FETCH":
                number = int(argument.split()[0])
                sender, subject, _flags = self.messages[number - 1]
                header = f"From: {sender}\r\nSubject: {subject}\r\n\r\n".encode()
                writer.write(
                    f"* {number} FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)] {{{len(header)}}}\r\n".encode()
                    + header
                    + b")\r\n"
                )
            elif verb == "LOGOUT":
                writer.write(b"* BYE\r\n" + f"{tag} OK LOGOUT completed\r\n".encode())
                await writer.drain()
                break
            writer.write(f"{tag} OK {verb} completed\r\n".encode())
            await writer.drain()
        writer.close()


def write_ics(path: Path) -> None:
    today = datetime.now(UTC).date()
    stamp = today.strftime("%Y%m%d")
    later = (today + timedelta(days=3)).strftime("%Y%m%d")
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:1\r\nDTSTART:{stamp}T140000Z\r\nDTEND:{stamp}T150000Z\r\nSUMMARY:Client meeting\r\nEND:VEVENT\r\n"
        f"BEGIN:VEVENT\r\nUID:2\r\nDTSTART:{stamp}T090000Z\r\nDTEND:{stamp}T093000Z\r\nSUMMARY:Team standup\r\nEND:VEVENT\r\n"
        f"BEGIN:VEVENT\r\nUID:3\r\nDTSTART:{later}T100000Z\r\nSUMMARY:Later review\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )


def write_maildir(path: Path) -> None:
    box = mailbox.Maildir(path, create=True)
    for sender, subject, seen in (
        ("boss@example.com", "Budget", False),
        ("news@example.org", "Weekly", False),
        ("friend@example.net", "Old", True),
    ):
        message = EmailMessage()
        message["From"], message["Subject"] = sender, subject
        message.set_content("body")
        key = box.add(message)
        stored = box[key]
        stored.set_subdir("cur")
        if seen:
            stored.add_flag("S")
        box[key] = stored


@pytest.fixture
async def meteo() -> Any:
    service = OpenMeteo()
    await service.server.start()
    yield service
    await service.server.stop()


@pytest.fixture
async def app(make_settings: SettingsFactory, start_app: Any, tmp_path: Path, meteo: OpenMeteo) -> RunningApp:
    write_ics(tmp_path / "cal.ics")
    write_maildir(tmp_path / "Maildir")
    settings = make_settings(
        security={"api_key_users": {API_KEY: USER_ID}},
        assistant={
            "weather_url": meteo.url,
            "geocoding_url": meteo.url,
            "calendar_ics": str(tmp_path / "cal.ics"),
            "maildir": str(tmp_path / "Maildir"),
            "important_senders": ["boss@example.com"],
        },
    )
    return await start_app(settings)  # type: ignore[no-any-return]


async def test_spec_briefing(app: RunningApp) -> None:
    response = await app.client.post("/v1/commands", headers=AUTH, json={"command": "briefing"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["command"] == "MorningBriefing"
    assert body["status"] == "completed"
    assert body["executed_at"].endswith("Z")
    assert body["result"]["weather"] == "15°C, partly cloudy"
    assert body["result"]["calendar"] == [
        {"time": "09:00", "title": "Team standup"},
        {"time": "14:00", "title": "Client meeting"},
    ]
    assert body["result"]["emails"] == {"unread": 2, "important": 1}


async def test_each_command(app: RunningApp) -> None:
    weather = (
        await app.client.post(
            "/v1/commands", headers=AUTH, json={"command": "weather", "args": {"location": "Berlin"}}
        )
    ).json()
    assert weather["result"]["temperature_c"] == 15.2
    nowhere = await app.client.post(
        "/v1/commands", headers=AUTH, json={"command": "weather", "args": {"location": "Atlantis"}}
    )
    assert nowhere.status_code == 404
    assert nowhere.json()["error"]["code"] == "NOT_FOUND"
    week = (
        await app.client.post("/v1/commands", headers=AUTH, json={"command": "calendar", "args": {"days": 7}})
    ).json()
    assert [event["title"] for event in week["result"]["events"]] == [
        "Team standup",
        "Client meeting",
        "Later review",
    ]
    mail = (
        await app.client.post("/v1/commands", headers=AUTH, json={"command": "emails", "args": {"count": 1}})
    ).json()
    assert mail["result"]["unread"] == 2
    assert len(mail["result"]["latest"]) == 1
    listed = (await app.client.post("/v1/commands", headers=AUTH, json={"command": "help"})).json()
    assert {c["command"] for c in listed["result"]["commands"]} == {
        "briefing",
        "weather",
        "calendar",
        "emails",
        "help",
    }
    unknown = await app.client.post("/v1/commands", headers=AUTH, json={"command": "launch"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "BAD_REQUEST"
    bad_args = await app.client.post(
        "/v1/commands", headers=AUTH, json={"command": "calendar", "args": {"days": "many"}}
    )
    assert bad_args.status_code == 422
    assert (await app.client.post("/v1/commands", json={"command": "help"})).json()["error"][
        "code"
    ] == "UNAUTHORIZED"


async def test_weather_service_down_is_502_and_briefing_degrades(
    make_settings: SettingsFactory, start_app: Any
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    app: RunningApp = await start_app(
        make_settings(
            security={"api_key_users": {API_KEY: USER_ID}},
            assistant={"weather_url": dead, "geocoding_url": dead},
        )
    )
    weather = await app.client.post("/v1/commands", headers=AUTH, json={"command": "weather"})
    assert weather.status_code == 502
    assert weather.json()["error"]["code"] == "UPSTREAM_ERROR"
    briefing = (await app.client.post("/v1/commands", headers=AUTH, json={"command": "briefing"})).json()
    assert briefing["result"]["weather"].startswith("unavailable")
    assert briefing["result"]["emails"] == {"unread": 0, "important": 0}


async def test_imap_mail_over_a_socket(make_settings: SettingsFactory, start_app: Any) -> None:
    imap = FakeImap(
        [
            ("boss@example.com", "Budget", set()),
            ("a@example.org", "Hi", {"\\Flagged"}),
            ("b@example.org", "Read", {"\\Seen"}),
        ]
    )
    server = await asyncio.start_server(imap.handle, "127.0.0.1", imap.port)
    try:
        app: RunningApp = await start_app(
            make_settings(
                security={"api_key_users": {API_KEY: USER_ID}},
                assistant={
                    "imap_host": "127.0.0.1",
                    "imap_port": imap.port,
                    "imap_ssl": False,
                    "imap_user": "me",
                    "imap_password": "secret",
                    "important_senders": ["boss@example.com"],
                },
            )
        )
        body = (await app.client.post("/v1/commands", headers=AUTH, json={"command": "emails"})).json()
        assert body["result"]["unread"] == 2
        assert body["result"]["important"] == 2  # one flagged, one from an important sender
        assert {item["subject"] for item in body["result"]["latest"]} == {"Budget", "Hi"}
        assert imap.logins == ["me"]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("text", "expected_type"),
    [
        ("what's the weather in Paris?", "Weather"),
        ("morning briefing please", "MorningBriefing"),
        ("check my inbox", "EmailSummary"),
        ("agenda for the next 3 days", "Calendar"),
        ("help", "Help"),
    ],
)
async def test_parse_intents(app: RunningApp, text: str, expected_type: str) -> None:
    body = (await app.client.post("/v1/commands/parse", headers=AUTH, json={"input": text})).json()
    assert body["parsed"] is True
    assert body["command"]["type"] == expected_type
    assert body["requires_approval"] is False


async def test_spec_parse_example(app: RunningApp) -> None:
    body = (
        await app.client.post(
            "/v1/commands/parse", headers=AUTH, json={"input": "create meeting tomorrow at 3pm"}
        )
    ).json()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert body == {
        "parsed": True,
        "command": {
            "type": "CreateCalendarEvent",
            "title": "meeting",
            "start": f"{tomorrow}T15:00:00Z",
            "end": f"{tomorrow}T16:00:00Z",
        },
        "confidence": body["confidence"],
        "requires_approval": True,
    }
    assert 0.85 <= body["confidence"] <= 0.95
    vague = (
        await app.client.post("/v1/commands/parse", headers=AUTH, json={"input": "schedule something"})
    ).json()
    assert vague["confidence"] < body["confidence"]
    nothing = (await app.client.post("/v1/commands/parse", headers=AUTH, json={"input": "blorp zzz"})).json()
    assert nothing == {"parsed": False, "command": None, "confidence": 0.0, "requires_approval": False}


async def test_system_status(app: RunningApp) -> None:
    for _ in range(3):
        await app.client.post("/v1/commands", headers=AUTH, json={"command": "help"})
    body = (await app.client.get("/v1/system/status", headers=AUTH)).json()
    assert body["version"] == "0.1.0"
    assert body["environment"] == "test"
    assert body["resources"]["memory_used_mb"] > 0
    assert body["resources"]["database_size_mb"] > 0
    assert body["statistics"]["requests_total"] >= 3
    assert 0 < body["statistics"]["cache_hit_rate"] <= 1  # repeated keys hit the credential cache


async def test_ready_all_checks_the_assistants_services(app: RunningApp) -> None:
    body = (await app.client.get("/ready/all")).json()
    services = body["services"]
    for name in ("weather", "calendar", "email"):
        assert services[name]["healthy"] is True, services[name]
        assert services[name]["latency_ms"] >= 0
    assert services["whatsapp"] == {
        "healthy": False,
        "configured": False,
        "latency_ms": services["whatsapp"]["latency_ms"],
    }


async def test_ready_all_reports_a_weather_service_that_is_down(
    make_settings: SettingsFactory, start_app: Any
) -> None:
    app: RunningApp = await start_app(
        make_settings(
            assistant={
                "weather_url": f"http://127.0.0.1:{free_port()}",
                "geocoding_url": f"http://127.0.0.1:{free_port()}",
            }
        )
    )
    body = (await app.client.get("/ready/all")).json()
    assert body["services"]["weather"]["healthy"] is False
    assert body["services"]["weather"]["error"]
