"""The LLM endpoints of spec 000 (`/api/llm/chat`, `/api/llm/embeddings`) and spec 002 (`/api/v1/chat`,
answering from the caller's workspace through embeddings retrieval), on the real bundled model."""

from __future__ import annotations

from typing import Any

import pytest

from pentad.engines.llm.vectors import cosine
from tests.helpers import RunningApp, SettingsFactory, login_admin
from tests.integration.surfaces.crm_helpers import deal, user_headers, workspace

pytestmark = pytest.mark.llm


@pytest.fixture
async def app(make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    settings = make_settings(
        rate_limits={"vsm": "100000/hour", "crm": "100000/hour"},
        llm={"default_max_tokens": 24},
    )
    return await start_app(settings)  # type: ignore[no-any-return]


async def _admin(app: RunningApp) -> dict[str, str]:
    tokens = await login_admin(app.client)
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_spec_000_chat_with_context_and_an_alias(app: RunningApp) -> None:
    headers = await _admin(app)
    response = await app.client.post(
        "/api/llm/chat",
        headers=headers,
        json={
            "message": "What is the capital of France?",
            "model": "gpt-4",
            "temperature": 0.0,
            "max_tokens": 20,
            "context": [{"role": "system", "content": "You are a VSM system analyst"}],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["response"]
    assert body["model"] == "gemma3-270m"  # gpt-4 is an alias; the answer names the model that answered
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 0 < usage["completion_tokens"] <= 20
    # the system context is part of the prompt
    bare = await app.client.post(
        "/api/llm/chat",
        headers=headers,
        json={"message": "What is the capital of France?", "max_tokens": 20, "temperature": 0.0},
    )
    assert "Paris" in bare.json()["response"]
    assert bare.json()["usage"]["prompt_tokens"] != usage["prompt_tokens"]


async def test_spec_000_errors(app: RunningApp) -> None:
    assert (await app.client.post("/api/llm/chat", json={"message": "hi"})).status_code == 401
    headers = await _admin(app)
    unknown = await app.client.post(
        "/api/llm/chat", headers=headers, json={"message": "hi", "model": "gpt-9"}
    )
    assert unknown.status_code == 422
    assert "gemma3-270m" in unknown.text
    bad = await app.client.post("/api/llm/chat", headers=headers, json={"message": "hi", "temperature": 5})
    assert bad.status_code == 422
    viewer = await user_headers(app, "val", roles=["viewer"])
    forbidden = await app.client.post("/api/llm/embeddings", headers=viewer, json={"texts": ["a"]})
    assert forbidden.status_code == 403
    empty = await app.client.post("/api/llm/embeddings", headers=headers, json={"texts": []})
    assert empty.status_code == 422


async def test_spec_000_embeddings(app: RunningApp) -> None:
    headers = await _admin(app)
    response = await app.client.post(
        "/api/llm/embeddings",
        headers=headers,
        json={
            "texts": ["System performance is degrading", "The system is getting slower", "I like apples"],
            "model": "text-embedding-ada-002",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    degrading, slower, apples = body["embeddings"]
    assert body["dimensions"] == len(degrading) > 100
    assert cosine(degrading, slower) > cosine(degrading, apples)
    assert body["usage"]["prompt_tokens"] > 0


async def test_spec_002_chat_answers_from_the_workspace(app: RunningApp) -> None:
    alice = await user_headers(app, "alice")
    space = await workspace(app, alice)
    await deal(
        app,
        alice,
        space["id"],
        title="Globex server renewal",
        company="Globex",
        value=48000,
        stage="negotiation",
    )
    await deal(app, alice, space["id"], title="Initech laptops", company="Initech", value=12000, stage="lead")
    await deal(
        app, alice, space["id"], title="Umbrella consulting", company="Umbrella", value=7000, stage="won"
    )
    response = await app.client.post(
        "/api/v1/chat",
        headers=alice,
        json={"message": "What is the status of the Globex deal?", "context": {"workspace_id": space["id"]}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["response"], str)
    assert 0.0 <= body["confidence"] <= 1.0
    # retrieval found the deal the question is about first
    assert body["sources"][0]["title"] == "Globex server renewal"
    # without a workspace there is nothing to ground the answer: less confidence than with one
    general = await app.client.post(
        "/api/v1/chat", headers=alice, json={"message": "What is the status of the Globex deal?"}
    )
    assert general.status_code == 200
    assert general.json()["sources"] == []
    assert general.json()["confidence"] < body["confidence"] or body["response"] == ""


async def test_spec_002_chat_keeps_workspaces_apart(app: RunningApp) -> None:
    alice = await user_headers(app, "alice")
    mallory = await user_headers(app, "mallory")
    space = await workspace(app, alice)
    response = await app.client.post(
        "/api/v1/chat",
        headers=mallory,
        json={"message": "Show me the deals", "context": {"workspace_id": space["id"]}},
    )
    assert response.status_code == 404
    assert (await app.client.post("/api/v1/chat", json={"message": "hi"})).status_code == 401
    # retrieval reads only the asked workspace: Mallory's Globex deal never grounds Alice's answer
    await deal(app, alice, space["id"], title="Initech laptops", company="Initech", value=12000)
    theirs = await workspace(app, mallory, name="Mallory Inc")
    secret = await deal(app, mallory, theirs["id"], title="Globex secret merger", company="Globex", value=9)
    answer = await app.client.post(
        "/api/v1/chat",
        headers=alice,
        json={"message": "Tell me about Globex", "context": {"workspace_id": space["id"]}},
    )
    assert answer.status_code == 200
    assert [source["deal_id"] for source in answer.json()["sources"]] != []
    assert secret["id"] not in {source["deal_id"] for source in answer.json()["sources"]}
