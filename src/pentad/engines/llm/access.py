"""The LLM service for this process, built on first use (API or Celery worker) and closed at shutdown.
Building it loads nothing: a local model is read from disk on its first request."""

from __future__ import annotations

from functools import partial

from pentad.core.context import CoreServices
from pentad.engines.llm.local import LlamaCppProvider
from pentad.engines.llm.model_files import resolve_model_path
from pentad.engines.llm.openai_compat import OpenAICompatibleProvider
from pentad.engines.llm.protocol import LLMProvider
from pentad.engines.llm.service import LLMService

LLM_KEY = "llm_service"


def build_service(core: CoreServices) -> LLMService:
    settings = core.settings.llm
    model_dir = settings.model_dir or core.settings.server.data_dir / "models"
    providers: dict[str, LLMProvider] = {}
    for model in settings.models:
        if model.provider == "openai":
            providers[model.id] = OpenAICompatibleProvider(model, max_waiting=settings.max_waiting)
        else:
            providers[model.id] = LlamaCppProvider(
                model,
                partial(resolve_model_path, model.path, model_dir),
                threads=settings.threads,
                max_waiting=settings.max_waiting,
            )
    return LLMService(settings, core.db, core.telemetry, providers)


def llm_service(core: CoreServices) -> LLMService:
    service = core.extras.get(LLM_KEY)
    if not isinstance(service, LLMService):
        service = build_service(core)
        core.extras[LLM_KEY] = service
    return service


async def close_llm(core: CoreServices) -> None:
    service = core.extras.pop(LLM_KEY, None)
    if isinstance(service, LLMService):
        await service.close()
