"""The llama.cpp provider on the real bundled model: generation, streaming, cancellation, the waiting
line, token counts, embeddings, and an event loop that keeps running while the model works."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from pathlib import Path

import pytest
from llama_cpp import Llama

from pentad.engines.llm.errors import InferenceBusy
from pentad.engines.llm.generation import ChatMessage, Completion, Delta, GenerationParams
from pentad.engines.llm.prompts import render_transcript
from pentad.engines.llm.vectors import cosine
from tests.integration.engines.llm.conftest import ProviderFactory

pytestmark = pytest.mark.llm

QUESTION = [ChatMessage("system", "You are helpful."), ChatMessage("user", "What is the capital of France?")]
GREEDY = GenerationParams(max_tokens=24, temperature=0.0)


async def test_greedy_generation_answers_and_counts_like_llama_cpp(
    make_provider: ProviderFactory, gguf: Path
) -> None:
    provider = make_provider()
    first = await provider.complete(QUESTION, GREEDY)
    second = await provider.complete(QUESTION, GREEDY)
    assert "Paris" in first.text
    assert first.text == second.text  # temperature 0 is greedy, hence repeatable
    # the same prompt through llama-cpp-python directly reports the same token counts
    direct = Llama(model_path=str(gguf), n_ctx=2048, n_threads=2, verbose=False)
    try:
        reference = direct.create_completion(
            render_transcript(QUESTION), max_tokens=24, temperature=0.0, stop=["\nUser:", "\nSystem:"]
        )
    finally:
        direct.close()
    assert first.usage.prompt == reference["usage"]["prompt_tokens"]
    assert first.usage.completion == reference["usage"]["completion_tokens"]
    assert first.text == reference["choices"][0]["text"]


async def test_max_tokens_is_honoured(make_provider: ProviderFactory) -> None:
    provider = make_provider()
    story = [ChatMessage("user", "Tell me a long story about a dragon and a knight.")]
    result = await provider.complete(story, GenerationParams(max_tokens=5, temperature=0.8, seed=1))
    assert result.finish_reason == "length"
    assert result.usage.completion == 5


async def test_stream_deltas_add_up_to_the_completion(make_provider: ProviderFactory) -> None:
    provider = make_provider()
    deltas: list[str] = []
    final: Completion | None = None
    async with aclosing(provider.stream(QUESTION, GREEDY)) as stream:
        async for item in stream:
            if isinstance(item, Delta):
                deltas.append(item.text)
            else:
                final = item
    assert final is not None
    assert len(deltas) > 1
    assert "".join(deltas) == final.text


async def test_closing_a_stream_stops_generation_and_frees_the_model(make_provider: ProviderFactory) -> None:
    provider = make_provider()
    story = [ChatMessage("user", "Write a very long poem about the sea.")]
    received = 0
    async with aclosing(provider.stream(story, GenerationParams(max_tokens=400, temperature=0.8))) as stream:
        async for item in stream:
            assert isinstance(item, Delta)
            received += 1
            if received == 3:
                break
    # the next request runs at once: the abandoned one no longer holds the model
    result = await asyncio.wait_for(provider.complete(QUESTION, GenerationParams(max_tokens=4)), 30)
    assert result.usage.completion <= 4


async def test_requests_beyond_the_line_are_refused(make_provider: ProviderFactory) -> None:
    provider = make_provider(max_waiting=1)
    long = GenerationParams(max_tokens=40, temperature=0.0)
    running = asyncio.create_task(provider.complete(QUESTION, long))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(provider.complete(QUESTION, long))
    await asyncio.sleep(0.05)
    with pytest.raises(InferenceBusy):
        await provider.complete(QUESTION, long)
    first, second = await asyncio.gather(running, waiting)
    assert first.text == second.text  # the one that waited was served, with the same greedy answer


async def test_the_event_loop_keeps_running_during_generation(make_provider: ProviderFactory) -> None:
    provider = make_provider()
    await provider.complete(QUESTION, GenerationParams(max_tokens=1))  # load the model first
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    result = await provider.complete(QUESTION, GenerationParams(max_tokens=32, temperature=0.0))
    stop.set()
    await task
    assert result.usage.completion > 1
    # a blocked loop would tick once or twice in all; a free one ticks throughout the generation
    assert ticks >= 10


async def test_embeddings_place_related_sentences_closer(make_provider: ProviderFactory) -> None:
    provider = make_provider()
    result = await provider.embed(["CPU usage is very high", "The processor load is heavy", "I like apples"])
    high, heavy, apples = result.vectors
    assert len(high) == len(heavy) == len(apples) > 100
    assert cosine(high, heavy) > cosine(high, apples)
    assert result.prompt_tokens > 6
