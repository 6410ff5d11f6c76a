"""LLM failures as the kernel's ApiErrors, so every surface renders them in its own envelope."""

from __future__ import annotations

from pentad.core.errors import ApiError, NotFound, ServiceUnavailable, UpstreamError, ValidationFailed


class UnknownModel(ValidationFailed):
    def __init__(self, requested: str, known: list[str]) -> None:
        super().__init__(
            f"Unknown model '{requested}'. Known models: {', '.join(known)}",
            fields=[{"field": "model", "error": f"must be one of: {', '.join(known)}"}],
            known_models=known,
        )


class ContextTooLong(ValidationFailed):
    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"The message needs {needed} tokens but the model's context window leaves {available}",
            fields=[{"field": "message", "error": "too long for the model's context window"}],
        )


class InferenceBusy(ServiceUnavailable):
    def __init__(self, waiting: int) -> None:
        super().__init__(
            f"The inference engine is busy ({waiting} requests waiting); retry shortly",
            headers={"Retry-After": "5"},
        )


class InferenceFailed(UpstreamError):
    pass


class ModelUnavailable(ServiceUnavailable):
    pass


class ConversationNotFound(NotFound):
    def __init__(self, conversation_id: str) -> None:
        super().__init__("conversation", conversation_id)


__all__ = [
    "ApiError",
    "ContextTooLong",
    "ConversationNotFound",
    "InferenceBusy",
    "InferenceFailed",
    "ModelUnavailable",
    "UnknownModel",
]
