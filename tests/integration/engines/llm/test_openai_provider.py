"""The OpenAI-compatible provider against a real OpenAI-style server: llama-cpp-python's own
`python -m llama_cpp.server`, on the bundled model, over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import httpx
import pytest

from pentad.engines.llm.errors import InferenceFailed
from pentad.engines.llm.generation import ChatMessage, Completion, Delta, GenerationParams
from pentad.engines.llm.openai_compat import OpenAICompatibleProvider
from pentad.engines.llm.settings import ModelSettings
from pentad.engines.llm.vectors import cosine
from tests.helpers import free_port

pytestmark = [pytest.mark.llm, pytest.mark.slow]

QUESTION = [ChatMessage("system", "You are helpful."), ChatMessage("user", "What is the capital of France?")]


@pytest.fixture(scope="module")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--model_alias",
            "gemma-remote",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            "2",
            "--n_ctx",
            "2048",
            "--embedding",
            "true",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "llama_cpp.server exited"
            assert time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def provider_for(url: str, prompt_format: str = "completion") -> OpenAICompatibleProvider:
    model = ModelSettings(
        id="remote",
        provider="openai",
        base_url=url,
        remote_name="gemma-remote",
        prompt_format=prompt_format,  # type: ignore[arg-type]
    )
    return OpenAICompatibleProvider(model, max_waiting=4)


async def test_completion_over_http_reports_the_servers_usage(llama_server: str) -> None:
    provider = provider_for(llama_server)
    try:
        result = await provider.complete(QUESTION, GenerationParams(max_tokens=16, temperature=0.0))
    finally:
        await provider.close()
    assert "Paris" in result.text
    assert result.usage.prompt > 5
    assert 0 < result.usage.completion <= 16
    assert result.model == "remote"


async def test_streaming_over_http(llama_server: str) -> None:
    provider = provider_for(llama_server)
    deltas: list[str] = []
    final: Completion | None = None
    try:
        stream = provider.stream(QUESTION, GenerationParams(max_tokens=16, temperature=0.0))
        async with aclosing(stream) as items:
            async for item in items:
                if isinstance(item, Delta):
                    deltas.append(item.text)
                else:
                    final = item
    finally:
        await provider.close()
    assert final is not None
    assert len(deltas) > 1
    assert "".join(deltas) == final.text
    assert "Paris" in final.text
    assert final.usage.completion > 0


async def test_chat_format_goes_through_chat_completions(llama_server: str) -> None:
    provider = provider_for(llama_server, "chat")
    try:
        result = await provider.complete(QUESTION, GenerationParams(max_tokens=8, temperature=0.0))
    finally:
        await provider.close()
    # the base model may say nothing through a chat template; the exchange itself must be well formed
    assert result.usage.prompt > 5
    assert result.finish_reason in {"stop", "length"}


async def test_embeddings_over_http(llama_server: str) -> None:
    provider = provider_for(llama_server)
    try:
        result = await provider.embed(
            ["CPU usage is very high", "The processor load is heavy", "I like apples"]
        )
        health = await provider.health()
    finally:
        await provider.close()
    high, heavy, apples = result.vectors
    assert len(high) == len(apples) > 100
    assert cosine(high, heavy) > cosine(high, apples)
    assert health.healthy
    assert health.latency_ms > 0


async def test_an_unreachable_server_is_an_upstream_error() -> None:
    provider = provider_for(f"http://127.0.0.1:{free_port()}/v1")
    try:
        with pytest.raises(InferenceFailed):
            await provider.complete(QUESTION, GenerationParams(max_tokens=4))
        assert (await provider.health()).healthy is False
    finally:
        await provider.close()
