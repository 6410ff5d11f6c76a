"""The port every model provider implements; the service, the surfaces and the tests depend on this."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Protocol

from pentad.engines.llm.generation import (
    ChatMessage,
    Completion,
    Delta,
    Embeddings,
    GenerationParams,
    ProviderHealth,
)


class LLMProvider(Protocol):
    model_id: str
    context_length: int

    async def complete(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Completion: ...

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[Delta | Completion, None]:
        """Text deltas as they are generated, then one Completion with the whole text and usage.
        Closing the iterator early stops generation."""
        ...

    async def embed(self, texts: Sequence[str]) -> Embeddings: ...

    async def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of the prompt these messages render to."""
        ...

    async def count_tokens(self, text: str) -> int: ...

    async def health(self) -> ProviderHealth: ...

    async def close(self) -> None: ...
