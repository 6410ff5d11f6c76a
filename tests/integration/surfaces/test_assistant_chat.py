"""spec 001 chat on the real bundled model: `/v1/chat`, `/v1/chat/stream`, `/v1/system/models`, `/ready`
with the inference engine's latency, and the WhatsApp webhook answering through the chat engine to a local
stand-in for the Cloud API over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers import RunningApp, SettingsFactory
from tests.receivers import LocalServer

pytestmark = pytest.mark.llm

API_KEY = "sk-chat-test-key"
USER_ID = "550e8400-e29b-41d4-a716-446655440000"
OTHER_KEY = "sk-chat-other-key"
OTHER_ID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
APP_SECRET = "whatsapp-app-secret"
VERIFY_TOKEN = "whatsapp-verify-token"


class FakeWhatsApp:
    """The Cloud API's send-message endpoint: records what Pentad sends and answers with a message id."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.server = LocalServer(Starlette(routes=[Route("/{phone}/messages", self.send, methods=["POST"])]))

    async def send(self, request: Request) -> JSONResponse:
        self.auth.append(request.headers.get("authorization", ""))
        self.sent.append({"phone": request.path_params["phone"], **json.loads(await request.body())})
        return JSONResponse(
            {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.{len(self.sent)}"}]}
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture
async def whatsapp() -> Any:
    fake = FakeWhatsApp()
    await fake.server.start()
    yield fake
    await fake.server.stop()


@pytest.fixture
async def app(make_settings: SettingsFactory, start_app: Any, whatsapp: FakeWhatsApp) -> RunningApp:
    settings = make_settings(
        security={"api_key_users": {API_KEY: USER_ID, OTHER_KEY: OTHER_ID}},
        rate_limits={"assistant": "10000/minute"},
        jobs={"poll_seconds": 0.1},
        assistant={
            "whatsapp_verify_token": VERIFY_TOKEN,
            "whatsapp_app_secret": APP_SECRET,
            "whatsapp_access_token": "graph-access-token",
            "whatsapp_api_url": whatsapp.url,
            "whatsapp_phone_number_id": "1055",
        },
        llm={
            "models": [
                {"id": "gemma3-270m", "name": "Gemma 3 270M", "parameters": "270M", "context_length": 512},
            ],
            "default_max_tokens": 24,
        },
    )
    return await start_app(settings)  # type: ignore[no-any-return]


async def test_chat_answers_with_the_documented_shape(app: RunningApp) -> None:
    response = await app.client.post(
        "/v1/chat", headers=AUTH, json={"message": "What is the capital of France?", "temperature": 0.0}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["role"] == "assistant"
    assert "Paris" in body["content"]
    assert body["model"] == "gemma3-270m"
    tokens = body["tokens"]
    assert tokens["prompt"] > 5
    assert 0 < tokens["completion"] <= 24
    assert tokens["total"] == tokens["prompt"] + tokens["completion"]
    assert body["created_at"].endswith("Z")
    assert body["conversation_id"]
    assert body["metadata"]["trimmed_messages"] == 0


async def test_a_conversation_continues_and_belongs_to_its_user(app: RunningApp) -> None:
    first = await app.client.post(
        "/v1/chat",
        headers=AUTH,
        json={"message": "My name is Alice.", "conversation_id": "conv-123", "max_tokens": 8},
    )
    assert first.status_code == 200, first.text
    assert first.json()["conversation_id"] == "conv-123"
    second = await app.client.post(
        "/v1/chat",
        headers=AUTH,
        json={"message": "What is my name?", "conversation_id": "conv-123", "max_tokens": 8},
    )
    # the history is part of the prompt: the second turn's prompt is longer than the first's
    assert second.json()["tokens"]["prompt"] > first.json()["tokens"]["prompt"] + 5
    other = await app.client.post(
        "/v1/chat",
        headers={"Authorization": f"Bearer {OTHER_KEY}"},
        json={"message": "What is my name?", "conversation_id": "conv-123", "max_tokens": 8},
    )
    # another user's "conv-123" is their own, empty conversation
    assert other.json()["tokens"]["prompt"] < second.json()["tokens"]["prompt"]


async def test_old_turns_are_trimmed_to_fit_the_context_window(app: RunningApp) -> None:
    long_turn = "Please remember this list of fruits: " + ", ".join(["apple", "banana", "cherry"] * 30)
    trimmed = 0
    for _ in range(4):
        response = await app.client.post(
            "/v1/chat",
            headers=AUTH,
            json={"message": long_turn, "conversation_id": "long-one", "max_tokens": 4},
        )
        assert response.status_code == 200, response.text
        trimmed = response.json()["metadata"]["trimmed_messages"]
        assert response.json()["tokens"]["prompt"] + 4 <= 512
    assert trimmed > 0


async def test_a_message_longer_than_the_window_is_a_validation_error(app: RunningApp) -> None:
    response = await app.client.post("/v1/chat", headers=AUTH, json={"message": "word " * 2000})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_bad_requests_get_the_documented_errors(app: RunningApp) -> None:
    anonymous = await app.client.post("/v1/chat", json={"message": "Hello"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "UNAUTHORIZED"
    empty = await app.client.post("/v1/chat", headers=AUTH, json={"message": "", "temperature": 3})
    assert empty.status_code == 422
    fields = {entry["field"] for entry in empty.json()["error"]["details"]["fields"]}
    assert {"message", "temperature"} <= fields
    unknown = await app.client.post("/v1/chat", headers=AUTH, json={"message": "Hi", "model": "gpt-17"})
    assert unknown.status_code == 422
    assert "gemma3-270m" in unknown.json()["error"]["message"]


async def test_stream_sends_message_deltas_then_done(app: RunningApp) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    async with app.client.stream(
        "POST",
        "/v1/chat/stream",
        headers=AUTH,
        json={"message": "What is the capital of France?", "temperature": 0.0},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.split(":", 1)[1])))
    names = [name for name, _ in events]
    assert names[-1] == "done"
    assert set(names[:-1]) == {"message"}
    text = "".join(data["delta"] for name, data in events if name == "message")
    assert "Paris" in text
    tokens = events[-1][1]["tokens"]
    assert tokens["total"] == tokens["prompt"] + tokens["completion"] > 0
    # the streamed answer was stored like any other turn
    conversation = events[-1][1]["conversation_id"]
    follow = await app.client.post(
        "/v1/chat", headers=AUTH, json={"message": "Thanks", "conversation_id": conversation, "max_tokens": 2}
    )
    assert follow.json()["tokens"]["prompt"] > tokens["prompt"]


async def test_stream_rejects_an_unknown_model_before_streaming(app: RunningApp) -> None:
    response = await app.client.post("/v1/chat/stream", headers=AUTH, json={"message": "Hi", "model": "nope"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_models_and_readiness(app: RunningApp) -> None:
    models = (await app.client.get("/v1/system/models", headers=AUTH)).json()["models"]
    assert models[0]["id"] == "gemma3-270m"
    assert models[0]["default"] is True
    assert models[0]["context_length"] == 512
    assert "gpt-4" in models[0]["aliases"]
    # not ready until the model is loaded; the first probe starts loading it
    for _ in range(100):
        ready = await app.client.get("/ready")
        if ready.status_code == 200:
            break
        assert ready.json()["inference"]["healthy"] is False
        await asyncio.sleep(0.2)
    assert ready.status_code == 200, ready.text
    inference = ready.json()["inference"]
    assert inference["healthy"] is True
    assert inference["model"] == "gemma3-270m"
    assert inference["latency_ms"] > 0
    await app.client.post("/v1/chat", headers=AUTH, json={"message": "Hi", "max_tokens": 2})
    metrics = (await app.client.get("/metrics")).json()["inference"]
    assert metrics["requests_total"] >= 1  # the chat (a readiness probe is not an inference request)
    assert metrics["tokens_total"] > 0


def _signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}


def _notification(text: str, message_id: str = "wamid.in.1") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "changes": [
                    {
                        "value": {
                            "messages": [
                                {
                                    "from": "+1234567890",
                                    "id": message_id,
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ]
                        }
                    }
                ]
            }
        ],
    }


async def test_whatsapp_verification_handshake(app: RunningApp) -> None:
    ok = await app.client.get(
        "/v1/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "challenge123"},
    )
    assert ok.status_code == 200
    assert ok.text == "challenge123"
    wrong = await app.client.get(
        "/v1/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "challenge123"},
    )
    assert wrong.status_code == 403


async def test_whatsapp_message_is_answered_through_the_cloud_api(
    app: RunningApp, whatsapp: FakeWhatsApp
) -> None:
    raw, headers = _signed(_notification("What is the capital of France?"))
    unsigned = await app.client.post(
        "/v1/webhooks/whatsapp", content=raw, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    response = await app.client.post("/v1/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 200
    assert response.json()["messages"] == 1
    # Meta redelivers: the same message id is not answered twice
    again = await app.client.post("/v1/webhooks/whatsapp", content=raw, headers=headers)
    assert again.json()["messages"] == 0
    for _ in range(600):
        if whatsapp.sent:
            break
        await asyncio.sleep(0.05)
    assert len(whatsapp.sent) == 1
    sent = whatsapp.sent[0]
    assert sent["phone"] == "1055"
    assert sent["to"] == "+1234567890"
    assert sent["type"] == "text"
    assert sent["messaging_product"] == "whatsapp"
    assert sent["text"]["body"]
    assert whatsapp.auth == ["Bearer graph-access-token"]


async def test_whatsapp_rejects_malformed_bodies(app: RunningApp) -> None:
    raw = b"not json"
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    response = await app.client.post(
        "/v1/webhooks/whatsapp", content=raw, headers={"X-Hub-Signature-256": signature}
    )
    assert response.status_code == 400


async def test_parse_falls_back_to_the_models_embeddings(app: RunningApp) -> None:
    weather = await app.client.post(
        "/v1/commands/parse", headers=AUTH, json={"input": "is it going to snow in Oslo tonight"}
    )
    body = weather.json()
    assert body["parsed"] is True
    assert body["command"] == {"type": "Weather"}
    assert 0 < body["confidence"] <= 0.8  # a similarity guess stays below what a matching rule earns
    mail = await app.client.post(
        "/v1/commands/parse", headers=AUTH, json={"input": "do I have any new messages from Bob"}
    )
    assert mail.json()["command"] == {"type": "EmailSummary"}
    joke = await app.client.post(
        "/v1/commands/parse", headers=AUTH, json={"input": "tell me a joke about cats"}
    )
    assert joke.json() == {"parsed": False, "command": None, "confidence": 0.0, "requires_approval": False}
