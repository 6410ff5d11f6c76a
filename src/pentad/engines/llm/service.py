"""The LLM engine's front door: picks the provider for a model id, fits the prompt to the context window,
keeps conversations, and counts every inference in telemetry. Surfaces call this, never a provider."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime

from pentad.core.db import Database
from pentad.core.telemetry import Telemetry
from pentad.engines.llm.conversations import ConversationStore
from pentad.engines.llm.errors import ContextTooLong, UnknownModel
from pentad.engines.llm.generation import (
    ChatMessage,
    Completion,
    Delta,
    Embeddings,
    GenerationParams,
    ModelInfo,
    ProviderHealth,
)
from pentad.engines.llm.prompts import ContextOverflow, fit_to_context
from pentad.engines.llm.protocol import LLMProvider
from pentad.engines.llm.settings import LLMSettings
from pentad.engines.llm.vectors import Hit, VectorIndex


@dataclass(frozen=True, slots=True)
class Generation:
    completion: Completion
    dropped_messages: int  # oldest turns left out to fit the context window


@dataclass(frozen=True, slots=True)
class ChatTurn:
    message_id: uuid.UUID
    conversation_id: str
    content: str
    model: str
    completion: Completion
    dropped_messages: int
    created_at: datetime


class LLMService:
    def __init__(
        self, settings: LLMSettings, db: Database, telemetry: Telemetry, providers: dict[str, LLMProvider]
    ) -> None:
        self.settings = settings
        self._providers = providers
        self._telemetry = telemetry
        self.conversations = ConversationStore(db)
        self.vectors = VectorIndex(db)

    # --- models -----------------------------------------------------------------------------------

    @property
    def default_model(self) -> str:
        return self.settings.default_id

    def resolve(self, requested: str | None) -> LLMProvider:
        """The provider for a model id or alias; None means the default model."""
        name = requested or self.default_model
        name = self.settings.aliases.get(name, name)
        provider = self._providers.get(name)
        if provider is None:
            raise UnknownModel(requested or "", sorted(self._providers))
        return provider

    def models(self) -> list[ModelInfo]:
        aliases: dict[str, list[str]] = {}
        for alias, target in self.settings.aliases.items():
            aliases.setdefault(target, []).append(alias)
        return [
            ModelInfo(
                id=model.id,
                name=model.name or model.id,
                parameters=model.parameters,
                context_length=model.context_length,
                provider=model.provider,
                default=model.id == self.default_model,
                aliases=sorted(aliases.get(model.id, [])),
            )
            for model in self.settings.models
        ]

    def params(
        self, max_tokens: int | None, temperature: float | None, seed: int | None = None
    ) -> GenerationParams:
        return GenerationParams(
            max_tokens=min(max_tokens or self.settings.default_max_tokens, self.settings.max_tokens_limit),
            temperature=0.7 if temperature is None else temperature,
            seed=seed,
        )

    # --- generation -------------------------------------------------------------------------------

    async def _fit(
        self, provider: LLMProvider, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> tuple[list[ChatMessage], int]:
        try:
            fitted = await fit_to_context(
                messages, provider.count_messages, provider.context_length, params.max_tokens
            )
        except ContextOverflow as exc:
            raise ContextTooLong(exc.needed, exc.available) from None
        return fitted.messages, fitted.dropped_messages

    async def generate_stream(
        self, messages: Sequence[ChatMessage], *, model: str | None, params: GenerationParams
    ) -> AsyncGenerator[Delta | Generation, None]:
        """Deltas, then one Generation. Inference is counted whether it succeeds or fails."""
        provider = self.resolve(model)
        fitted, dropped = await self._fit(provider, messages, params)
        started = time.perf_counter()
        completion: Completion | None = None
        try:
            async with aclosing(provider.stream(fitted, params)) as stream:
                async for item in stream:
                    if isinstance(item, Completion):
                        completion = item
                    else:
                        yield item
        finally:
            self._telemetry.record_inference(
                ok=completion is not None,
                duration_ms=(time.perf_counter() - started) * 1000,
                tokens=completion.usage.total if completion else 0,
            )
        if completion is not None:
            yield Generation(completion, dropped)

    async def generate(
        self, messages: Sequence[ChatMessage], *, model: str | None, params: GenerationParams
    ) -> Generation:
        result: Generation | None = None
        async with aclosing(self.generate_stream(messages, model=model, params=params)) as stream:
            async for item in stream:
                if isinstance(item, Generation):
                    result = item
        if result is None:
            raise AssertionError("a finished generation stream always yields its Generation")
        return result

    # --- conversations ----------------------------------------------------------------------------

    async def chat_stream(
        self,
        owner: str,
        message: str,
        *,
        conversation_id: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        params: GenerationParams,
    ) -> AsyncGenerator[Delta | ChatTurn, None]:
        state = await self.conversations.load(owner, conversation_id)
        model_id = self.resolve(model or state.model).model_id
        system = system_prompt or state.system_prompt or self.settings.system_prompt
        messages = [ChatMessage("system", system), *state.history, ChatMessage("user", message)]
        generation: Generation | None = None
        async with aclosing(self.generate_stream(messages, model=model_id, params=params)) as stream:
            async for item in stream:
                if isinstance(item, Generation):
                    generation = item
                else:
                    yield item
        if generation is None:
            return
        answer = generation.completion.text.strip()
        stored = await self.conversations.append(
            owner,
            state.conversation_id,
            model=model_id,
            system_prompt=system_prompt,
            user_message=message,
            answer=answer,
            usage=generation.completion.usage,
        )
        yield ChatTurn(
            message_id=stored.message_id,
            conversation_id=state.conversation_id,
            content=answer,
            model=model_id,
            completion=generation.completion,
            dropped_messages=generation.dropped_messages,
            created_at=stored.created_at,
        )

    async def chat(
        self,
        owner: str,
        message: str,
        *,
        conversation_id: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        params: GenerationParams,
    ) -> ChatTurn:
        turn: ChatTurn | None = None
        stream = self.chat_stream(
            owner,
            message,
            conversation_id=conversation_id,
            system_prompt=system_prompt,
            model=model,
            params=params,
        )
        async with aclosing(stream) as items:
            async for item in items:
                if isinstance(item, ChatTurn):
                    turn = item
        if turn is None:
            raise AssertionError("a finished chat stream always yields its turn")
        return turn

    # --- embeddings and retrieval -----------------------------------------------------------------

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> Embeddings:
        return await self.resolve(model).embed(texts)

    async def index(self, namespace: str, items: dict[str, str], *, model: str | None = None) -> int:
        provider = self.resolve(model)
        return await self.vectors.sync(namespace, provider.model_id, items, provider.embed)

    async def search(
        self, namespace: str, query: str, *, limit: int = 5, model: str | None = None
    ) -> list[Hit]:
        provider = self.resolve(model)
        probe = await provider.embed([query])
        return await self.vectors.search(namespace, provider.model_id, probe.vectors[0], limit)

    # --- health -----------------------------------------------------------------------------------

    async def health(self) -> ProviderHealth:
        result = await self.resolve(None).health()
        self._telemetry.inference_healthy = result.healthy
        return result

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.close()
