"""A provider for any server that speaks OpenAI's HTTP API (OpenAI, Ollama, vLLM, llama.cpp's server).

`base_url` is the API root including its version (`http://host:8000/v1`). Models with the `completion`
prompt format go through `/completions` with the rendered transcript (base models); `chat` models through
`/chat/completions`. Streams are Server-Sent Events, `data: {json}` lines ending with `data: [DONE]`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import httpx

from pentad.engines.llm.errors import InferenceFailed
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

# The API has no tokenizer endpoint; for trimming the context, about four characters make a token.
CHARS_PER_TOKEN = 4


def _pooled(embedding: list[Any]) -> list[float]:
    """One vector per text. Some servers (llama.cpp's, for models that declare no pooling) send one vector
    per token: those are averaged, as the local provider's mean pooling does."""
    if embedding and isinstance(embedding[0], list):
        width = len(embedding[0])
        return [sum(float(row[i]) for row in embedding) / len(embedding) for i in range(width)]
    return [float(value) for value in embedding]


class OpenAICompatibleProvider:
    provider_name = "openai"

    def __init__(
        self, model: ModelSettings, *, max_waiting: int, client: httpx.AsyncClient | None = None
    ) -> None:
        self.model_id = model.id
        self.context_length = model.context_length
        self._settings = model
        self._remote = model.remote_name or model.id
        headers = {"Accept": "application/json"}
        if model.api_key is not None:
            headers["Authorization"] = f"Bearer {model.api_key.get_secret_value()}"
        self._client = client or httpx.AsyncClient(
            base_url=(model.base_url or "").rstrip("/") + "/", headers=headers, timeout=model.timeout_seconds
        )
        # remote servers queue themselves; the gate only bounds what this process sends at once
        self._gate = InferenceGate(max_waiting)
        self.last_latency_ms: float | None = None

    def _body(
        self, messages: Sequence[ChatMessage], params: GenerationParams, stream: bool
    ) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self._remote,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stream": stream,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if stream:
            body["stream_options"] = {"include_usage": True}
        if self._settings.prompt_format == "completion":
            body["prompt"] = render_transcript(messages)
            body["stop"] = [*TRANSCRIPT_STOPS, *params.stop]
            return "completions", body
        body["messages"] = [{"role": m.role, "content": m.content} for m in messages]
        if params.stop:
            body["stop"] = list(params.stop)
        return "chat/completions", body

    @staticmethod
    def _text(choice: dict[str, Any]) -> str:
        if "text" in choice:
            return str(choice["text"] or "")
        message = choice.get("message") or choice.get("delta") or {}
        return str(message.get("content") or "")

    def _failure(self, exc: Exception) -> InferenceFailed:
        if isinstance(exc, httpx.HTTPStatusError):
            detail = exc.response.text[:300]
            return InferenceFailed(
                f"Model server answered {exc.response.status_code} for '{self.model_id}': {detail}"
            )
        return InferenceFailed(f"Model server for '{self.model_id}' is unreachable: {type(exc).__name__}")

    async def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        return math.ceil(len(render_transcript(messages)) / CHARS_PER_TOKEN)

    async def count_tokens(self, text: str) -> int:
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    async def complete(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Completion:
        path, body = self._body(messages, params, stream=False)
        async with self._gate.turn():
            started = time.perf_counter()
            try:
                response = await self._client.post(path, json=body)
                response.raise_for_status()
                data = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise self._failure(exc) from None
            self.last_latency_ms = (time.perf_counter() - started) * 1000
        try:
            choice = data["choices"][0]
            usage = data.get("usage") or {}
        except (KeyError, IndexError, TypeError):
            raise InferenceFailed(f"Model server sent an unexpected body for '{self.model_id}'") from None
        text = self._text(choice)
        prompt_tokens = int(usage.get("prompt_tokens") or await self.count_messages(messages))
        completion_tokens = int(usage.get("completion_tokens") or await self.count_tokens(text))
        return Completion(
            text=text,
            usage=TokenUsage(prompt_tokens, completion_tokens),
            finish_reason=str(choice.get("finish_reason") or "stop"),
            model=self.model_id,
        )

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[Delta | Completion, None]:
        path, body = self._body(messages, params, stream=True)
        pieces: list[str] = []
        finish = "stop"
        usage: dict[str, Any] = {}
        chunks = 0
        async with self._gate.turn():
            started = time.perf_counter()
            try:
                async with self._client.stream("POST", path, json=body) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        response.raise_for_status()
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            break
                        event = json.loads(payload)
                        usage = event.get("usage") or usage
                        for choice in event.get("choices") or []:
                            finish = choice.get("finish_reason") or finish
                            text = self._text(choice)
                            if text:
                                if not pieces:
                                    self.last_latency_ms = (time.perf_counter() - started) * 1000
                                chunks += 1
                                pieces.append(text)
                                yield Delta(text)
            except (httpx.HTTPError, ValueError) as exc:
                raise self._failure(exc) from None
        text = "".join(pieces)
        prompt_tokens = int(usage.get("prompt_tokens") or await self.count_messages(messages))
        # a server that does not report usage sends one token per chunk
        completion_tokens = int(usage.get("completion_tokens") or chunks)
        yield Completion(text, TokenUsage(prompt_tokens, completion_tokens), finish, self.model_id)

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        body = {"model": self._remote, "input": list(texts)}
        try:
            response = await self._client.post("embeddings", json=body)
            response.raise_for_status()
            data = response.json()
            rows = sorted(data["data"], key=lambda row: row.get("index", 0))
            vectors = [_pooled(row["embedding"]) for row in rows]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise self._failure(exc) from None
        tokens = int((data.get("usage") or {}).get("prompt_tokens") or 0)
        return Embeddings(vectors=vectors, prompt_tokens=tokens, model=self.model_id)

    async def health(self) -> ProviderHealth:
        started = time.perf_counter()
        try:
            response = await self._client.get("models")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return ProviderHealth(False, self.model_id, 0.0, self._failure(exc).message)
        return ProviderHealth(True, self.model_id, round((time.perf_counter() - started) * 1000, 1))

    async def close(self) -> None:
        await self._client.aclose()
