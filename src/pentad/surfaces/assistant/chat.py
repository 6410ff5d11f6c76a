"""spec 001 chat: `POST /v1/chat`, `POST /v1/chat/stream` (SSE `message` deltas, then `done` with the token
counts) and `GET /v1/system/models`, on the LLM engine. Conversations belong to the calling user."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from pentad.core.db import isoformat_z
from pentad.core.errors import ApiError
from pentad.core.identity.dependencies import Core, RequirePermission, get_principal
from pentad.core.identity.principal import Principal
from pentad.core.realtime import sse_response
from pentad.engines.llm import Delta
from pentad.engines.llm.access import llm_service
from pentad.engines.llm.service import ChatTurn

router = APIRouter(prefix="/v1", tags=["Assistant: Chat"], dependencies=[Depends(get_principal)])
AssistantUser = Annotated[Principal, RequirePermission("assistant.access")]


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=32_000, examples=["What's the weather in Berlin?"])
    conversation_id: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )
    system_prompt: str | None = Field(default=None, min_length=1, max_length=8000)
    model: str | None = Field(default=None, min_length=1, max_length=100)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)


class TokenCounts(BaseModel):
    prompt: int
    completion: int
    total: int


class ChatMetadata(BaseModel):
    finish_reason: str
    trimmed_messages: int = Field(description="oldest turns left out to fit the model's context window")


class ChatResponse(BaseModel):
    id: str
    conversation_id: str
    role: str = "assistant"
    content: str
    model: str
    tokens: TokenCounts
    created_at: str
    metadata: ChatMetadata


class ModelEntry(BaseModel):
    id: str
    name: str
    parameters: str
    context_length: int
    default: bool
    provider: str
    aliases: list[str]


class ModelsResponse(BaseModel):
    models: list[ModelEntry]


def _tokens(turn: ChatTurn) -> dict[str, int]:
    usage = turn.completion.usage
    return {"prompt": usage.prompt, "completion": usage.completion, "total": usage.total}


def _turn_stream(
    core: Any, principal: Principal, body: ChatRequest
) -> AsyncGenerator[Delta | ChatTurn, None]:
    service = llm_service(core)
    return service.chat_stream(
        str(principal.user_id),
        body.message,
        conversation_id=body.conversation_id,
        system_prompt=body.system_prompt,
        model=body.model,
        params=service.params(body.max_tokens, body.temperature),
    )


@router.post("/chat", response_model=ChatResponse, summary="Send chat message", operation_id="chat")
async def chat(body: ChatRequest, principal: AssistantUser, core: Core) -> ChatResponse:
    service = llm_service(core)
    turn = await service.chat(
        str(principal.user_id),
        body.message,
        conversation_id=body.conversation_id,
        system_prompt=body.system_prompt,
        model=body.model,
        params=service.params(body.max_tokens, body.temperature),
    )
    return ChatResponse(
        id=str(turn.message_id),
        conversation_id=turn.conversation_id,
        content=turn.content,
        model=turn.model,
        tokens=TokenCounts(**_tokens(turn)),
        created_at=isoformat_z(turn.created_at),
        metadata=ChatMetadata(
            finish_reason=turn.completion.finish_reason, trimmed_messages=turn.dropped_messages
        ),
    )


@router.post(
    "/chat/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
    summary="Streaming chat using Server-Sent Events",
)
async def chat_stream(body: ChatRequest, principal: AssistantUser, core: Core) -> EventSourceResponse:
    stream = _turn_stream(core, principal, body)
    # The first item is awaited before the response starts, so a bad model or an over-long message is
    # still a 4xx in the error envelope rather than an event inside a 200 stream.
    first = await anext(stream)

    async def events() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        async with aclosing(stream):
            item: Delta | ChatTurn | None = first
            while item is not None:
                if isinstance(item, Delta):
                    yield "message", {"delta": item.text}
                else:
                    yield (
                        "done",
                        {
                            "tokens": _tokens(item),
                            "id": str(item.message_id),
                            "conversation_id": item.conversation_id,
                            "model": item.model,
                            "finish_reason": item.completion.finish_reason,
                            "trimmed_messages": item.dropped_messages,
                        },
                    )
                try:
                    item = await anext(stream)
                except StopAsyncIteration:
                    item = None
                except ApiError as exc:
                    yield "error", {"error": {"code": exc.code.upper(), "message": exc.message}}
                    item = None

    return sse_response(events())


@router.get("/system/models", response_model=ModelsResponse, summary="List available inference models")
async def system_models(principal: AssistantUser, core: Core) -> ModelsResponse:
    return ModelsResponse(
        models=[
            ModelEntry(
                id=model.id,
                name=model.name,
                parameters=model.parameters,
                context_length=model.context_length,
                default=model.default,
                provider=model.provider,
                aliases=model.aliases,
            )
            for model in llm_service(core).models()
        ]
    )
