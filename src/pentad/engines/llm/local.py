"""The local provider: a GGUF model run by llama.cpp (llama-cpp-python) in this process.

Generation runs on one dedicated thread per model (a llama.cpp context is not thread-safe, and the event
loop must never block); an InferenceGate keeps the line. Streaming hands tokens from that thread to the loop
through a queue; closing the stream sets a flag that the stopping criterion reads, so an abandoned request
stops generating at the next token.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from pentad.engines.llm.errors import InferenceFailed, ModelUnavailable
from pentad.engines.llm.gate import InferenceGate
from pentad.engines.llm.generation import (
    ChatMessage,
    Completion,
    Delta,
    Embeddings,
    GenerationParams,
    ProviderHealth,
    TokenUsage,
)
from pentad.engines.llm.prompts import TRANSCRIPT_STOPS, render_transcript
from pentad.engines.llm.settings import ModelSettings

_END = object()
LOAD_WAIT_SECONDS = 1.0  # how long a readiness probe waits for a model that is still loading


class _TokenCounter:
    """A llama.cpp stopping criterion: it counts sampled tokens, and stops generation when the request is
    abandoned."""

    def __init__(self, cancel: threading.Event) -> None:
        self._cancel = cancel
        self.sampled = 0

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        self.sampled += 1
        return self._cancel.is_set()


class LlamaCppProvider:
    provider_name = "local"

    def __init__(
        self,
        model: ModelSettings,
        model_path: Callable[[], Path],
        *,
        threads: int | None,
        max_waiting: int,
    ) -> None:
        self.model_id = model.id
        self.context_length = model.context_length
        self._settings = model
        self._path = model_path  # resolved on first load: assembling a packaged model takes a moment
        self._threads = threads
        self._gate = InferenceGate(max_waiting)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llm-{model.id}")
        self._embed_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"embed-{model.id}")
        self._llama: Any = None
        self._embedder: Any = None
        self._load_lock = threading.Lock()
        self.last_latency_ms: float | None = None
        self._loading: asyncio.Future[Any] | None = None

    # --- loading ----------------------------------------------------------------------------------

    def _load(self, *, embedding: bool) -> Any:
        with self._load_lock:
            existing = self._embedder if embedding else self._llama
            if existing is not None:
                return existing
            # imported here: loading the shared library costs ~100 ms
            from llama_cpp import LLAMA_POOLING_TYPE_MEAN, LLAMA_POOLING_TYPE_UNSPECIFIED, Llama

            try:
                llama = Llama(
                    model_path=str(self._path()),
                    n_ctx=self.context_length,
                    n_threads=self._threads,
                    embedding=embedding,
                    # one vector per text: mean of the token vectors (the model itself declares no pooling)
                    pooling_type=LLAMA_POOLING_TYPE_MEAN if embedding else LLAMA_POOLING_TYPE_UNSPECIFIED,
                    verbose=False,
                )
            except (ValueError, OSError) as exc:
                raise ModelUnavailable(f"Model '{self.model_id}' could not be loaded: {exc}") from None
            if embedding:
                self._embedder = llama
            else:
                self._llama = llama
            return llama

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # --- prompts ----------------------------------------------------------------------------------

    def _count_sync(self, messages: Sequence[ChatMessage]) -> int:
        llama = self._load(embedding=False)
        if self._settings.prompt_format == "completion":
            return len(llama.tokenize(render_transcript(messages).encode(), add_bos=True, special=False))
        # chat templates add a few marker tokens per turn
        return sum(len(llama.tokenize(m.content.encode(), add_bos=False)) + 4 for m in messages) + 2

    async def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        return int(await self._run(self._count_sync, list(messages)))

    async def count_tokens(self, text: str) -> int:
        def count() -> int:
            return len(self._load(embedding=False).tokenize(text.encode(), add_bos=False, special=False))

        return int(await self._run(count))

    # --- generation -------------------------------------------------------------------------------

    def _start(
        self, llama: Any, messages: Sequence[ChatMessage], params: GenerationParams, counter: Any
    ) -> Any:
        """The llama-cpp-python streaming iterator for this request."""
        from llama_cpp import StoppingCriteriaList

        common: dict[str, Any] = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stream": True,
            "stopping_criteria": StoppingCriteriaList([counter]),
        }
        if params.seed is not None:
            common["seed"] = params.seed
        if self._settings.prompt_format == "completion":
            stop = [*TRANSCRIPT_STOPS, *params.stop]
            return llama.create_completion(render_transcript(messages), stop=stop, **common)
        chat = [{"role": m.role, "content": m.content} for m in messages]
        return llama.create_chat_completion(messages=chat, stop=list(params.stop) or None, **common)

    @staticmethod
    def _piece(chunk: dict[str, Any]) -> tuple[str, str | None]:
        choice = chunk["choices"][0]
        text = choice.get("text")
        if text is None:
            text = (choice.get("delta") or {}).get("content") or ""
        return text, choice.get("finish_reason")

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[Delta | Completion, None]:
        async with self._gate.turn():
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Any] = asyncio.Queue()
            cancel = threading.Event()
            counter = _TokenCounter(cancel)
            started = time.perf_counter()
            prompt_tokens = await self.count_messages(messages)

            def produce() -> None:
                try:
                    iterator = self._start(self._load(embedding=False), messages, params, counter)
                    for chunk in iterator:
                        loop.call_soon_threadsafe(queue.put_nowait, self._piece(chunk))
                        if cancel.is_set():
                            break
                    loop.call_soon_threadsafe(queue.put_nowait, _END)
                except Exception as exc:  # handed to the loop, which raises it to the caller
                    loop.call_soon_threadsafe(queue.put_nowait, exc)

            worker = loop.run_in_executor(self._executor, produce)
            pieces: list[str] = []
            finish = "stop"
            first = True
            try:
                while True:
                    item = await queue.get()
                    if item is _END:
                        break
                    if isinstance(item, BaseException):
                        if isinstance(item, ModelUnavailable):
                            raise item
                        raise InferenceFailed(f"Generation failed: {item}") from None
                    text, reason = item
                    if first:
                        self.last_latency_ms = (time.perf_counter() - started) * 1000
                        first = False
                    if reason:
                        finish = reason
                    if text:
                        pieces.append(text)
                        yield Delta(text)
            finally:
                cancel.set()
                await asyncio.shield(worker)
            # llama.cpp consults the criterion once per sampled token; a token that ends the answer (end of
            # text, or the last piece of a stop string) is sampled but, as llama.cpp counts, not part of it
            sampled = counter.sampled
            completion_tokens = min(sampled if finish == "length" else max(sampled - 1, 0), params.max_tokens)
            yield Completion(
                text="".join(pieces),
                usage=TokenUsage(prompt_tokens, completion_tokens),
                finish_reason=finish,
                model=self.model_id,
            )

    async def complete(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Completion:
        result: Completion | None = None
        async for item in self.stream(messages, params):
            if isinstance(item, Completion):
                result = item
        if result is None:  # the stream always ends with a Completion unless it raised
            raise InferenceFailed("Generation ended without a result")
        return result

    # --- embeddings -------------------------------------------------------------------------------

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        def run() -> tuple[list[list[float]], int]:
            embedder = self._load(embedding=True)
            tokens = sum(len(embedder.tokenize(text.encode(), add_bos=True)) for text in texts)
            vectors = embedder.embed(list(texts), normalize=True, truncate=True)
            return [list(map(float, vector)) for vector in vectors], tokens

        loop = asyncio.get_running_loop()
        try:
            vectors, tokens = await loop.run_in_executor(self._embed_executor, run)
        except ModelUnavailable:
            raise
        except (ValueError, RuntimeError) as exc:
            raise InferenceFailed(f"Embedding failed: {exc}") from None
        return Embeddings(vectors=vectors, prompt_tokens=tokens, model=self.model_id)

    # --- health -----------------------------------------------------------------------------------

    async def health(self) -> ProviderHealth:
        """A one-token generation, timed; while a request is generating, the last measured latency
        (waiting behind it would measure the queue, not the engine)."""
        if self._llama is None:
            # not ready while the model loads; the probe starts the load instead of waiting it out
            if self._loading is None or self._loading.done():
                loop = asyncio.get_running_loop()
                self._loading = loop.run_in_executor(self._executor, partial(self._load, embedding=False))
            try:
                await asyncio.wait_for(asyncio.shield(self._loading), LOAD_WAIT_SECONDS)
            except TimeoutError:
                return ProviderHealth(False, self.model_id, 0.0, "loading")
            except ModelUnavailable as exc:
                return ProviderHealth(False, self.model_id, 0.0, exc.message)
        if self._gate.busy:
            return ProviderHealth(True, self.model_id, round(self.last_latency_ms or 0.0, 1), "busy")
        started = time.perf_counter()
        try:
            await self.complete([ChatMessage("user", "ok")], GenerationParams(max_tokens=1, temperature=0.0))
        except (ModelUnavailable, InferenceFailed) as exc:
            return ProviderHealth(False, self.model_id, 0.0, exc.message)
        latency = (time.perf_counter() - started) * 1000
        return ProviderHealth(True, self.model_id, round(latency, 1))

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._embed_executor.shutdown(wait=True, cancel_futures=True)
        for llama in (self._llama, self._embedder):
            if llama is not None:
                llama.close()
        self._llama = self._embedder = None
