"""What goes into and comes out of a model, independent of the provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_tokens: int
    temperature: float = 0.7
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt: int
    completion: int

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    usage: TokenUsage
    finish_reason: str  # "stop" | "length" | "cancelled"
    model: str


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of streamed text."""

    text: str


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: list[list[float]]
    prompt_tokens: int
    model: str


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    name: str
    parameters: str
    context_length: int
    provider: str
    default: bool
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    healthy: bool
    model: str
    latency_ms: float
    detail: str | None = None
