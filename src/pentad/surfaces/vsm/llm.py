"""spec 000 §2 LLM service: `POST /api/llm/chat` and `POST /api/llm/embeddings`, stateless, on the LLM
engine. `context` carries earlier messages (a `system` one overrides the system prompt)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pentad.core.errors import ValidationFailed
from pentad.core.identity.dependencies import Core, RequirePermission
from pentad.core.identity.principal import Principal
from pentad.engines.llm import ChatMessage
from pentad.engines.llm.access import llm_service

router = APIRouter(prefix="/api/llm", tags=["VSM: LLM"])
LlmUser = Annotated[Principal, RequirePermission("llm.access")]
MAX_EMBEDDING_TEXTS = 128
MAX_EMBEDDING_CHARS = 100_000  # one request's whole input: embedding is CPU work


class ContextMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1, max_length=32_000)


class LlmChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=32_000)
    model: str | None = Field(default=None, min_length=1, max_length=100, examples=["gpt-4"])
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    context: list[ContextMessage] = Field(default_factory=list, max_length=200)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class LlmChatResponse(BaseModel):
    response: str
    model: str = Field(description="the model that answered (an alias such as gpt-4 names its target)")
    usage: Usage
    finish_reason: str
    trimmed_messages: int


class EmbeddingsRequest(BaseModel):
    texts: list[Annotated[str, Field(min_length=1, max_length=8000)]] = Field(
        min_length=1, max_length=MAX_EMBEDDING_TEXTS
    )
    model: str | None = Field(default=None, min_length=1, max_length=100, examples=["text-embedding-ada-002"])


class EmbeddingsResponse(BaseModel):
    embeddings: list[list[float]]
    model: str
    dimensions: int
    usage: Usage


@router.post("/chat", response_model=LlmChatResponse, summary="Chat with LLM")
async def chat(body: LlmChatRequest, principal: LlmUser, core: Core) -> LlmChatResponse:
    service = llm_service(core)
    system = [m.content for m in body.context if m.role == "system"]
    messages = [ChatMessage("system", "\n".join(system) or service.settings.system_prompt)]
    messages += [ChatMessage(m.role, m.content) for m in body.context if m.role != "system"]
    messages.append(ChatMessage("user", body.message))
    result = await service.generate(
        messages, model=body.model, params=service.params(body.max_tokens, body.temperature)
    )
    usage = result.completion.usage
    return LlmChatResponse(
        response=result.completion.text.strip(),
        model=result.completion.model,
        usage=Usage(prompt_tokens=usage.prompt, completion_tokens=usage.completion, total_tokens=usage.total),
        finish_reason=result.completion.finish_reason,
        trimmed_messages=result.dropped_messages,
    )


@router.post("/embeddings", response_model=EmbeddingsResponse, summary="Generate embeddings")
async def embeddings(body: EmbeddingsRequest, principal: LlmUser, core: Core) -> EmbeddingsResponse:
    if sum(len(text) for text in body.texts) > MAX_EMBEDDING_CHARS:
        raise ValidationFailed(
            "Request validation failed",
            fields=[{"field": "texts", "error": f"at most {MAX_EMBEDDING_CHARS} characters in all"}],
        )
    result = await llm_service(core).embed(body.texts, model=body.model)
    return EmbeddingsResponse(
        embeddings=result.vectors,
        model=result.model,
        dimensions=len(result.vectors[0]) if result.vectors else 0,
        usage=Usage(
            prompt_tokens=result.prompt_tokens, completion_tokens=0, total_tokens=result.prompt_tokens
        ),
    )
