"""The bundled GGUF, assembled once per session, and local providers on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

import pytest

from pentad.engines.llm.local import LlamaCppProvider
from pentad.engines.llm.model_files import resolve_model_path
from pentad.engines.llm.settings import PACKAGED_MODEL, ModelSettings


@pytest.fixture(scope="session")
def gguf(model_dir: Path) -> Path:
    return resolve_model_path(PACKAGED_MODEL, model_dir)


ProviderFactory = Callable[..., LlamaCppProvider]


@pytest.fixture
async def make_provider(gguf: Path) -> AsyncIterator[ProviderFactory]:
    made: list[LlamaCppProvider] = []

    def factory(context_length: int = 2048, max_waiting: int = 8) -> LlamaCppProvider:
        model = ModelSettings(id="gemma3-270m", context_length=context_length)
        provider = LlamaCppProvider(
            model, partial(lambda path: path, gguf), threads=2, max_waiting=max_waiting
        )
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.close()
