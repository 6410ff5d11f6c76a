"""LLM engine: chat, streaming and embeddings on local or remote models, conversations, vector search.

settings.py        LLMSettings, ModelSettings (model ids -> providers, aliases, limits)
generation.py      ChatMessage, GenerationParams, Completion, Delta, Embeddings, ModelInfo, ProviderHealth
protocol.py        LLMProvider, the port
local.py           LlamaCppProvider: GGUF through llama-cpp-python on a dedicated thread (the default)
openai_compat.py   OpenAICompatibleProvider: any OpenAI-style HTTP server, streaming included
model_files.py     GGUF path or `package:<name>` assembled from PyPI chunks
prompts.py         transcript prompts for base models, context-window fitting
gate.py            one generation at a time per model, a bounded line
models.py          conversations, messages, stored embeddings (tables)
conversations.py   ConversationStore
vectors.py         VectorIndex: sync texts to embeddings, cosine search
service.py         LLMService, what surfaces call
access.py          llm_service(core), close_llm(core)
"""

# Only plain data here: pentad.config imports the settings, so importing the service (which needs the
# kernel) from this package would be circular. Callers import `pentad.engines.llm.access` for the service.
from pentad.engines.llm.generation import ChatMessage, Completion, Delta, GenerationParams, TokenUsage
from pentad.engines.llm.settings import LLMSettings, ModelSettings

__all__ = [
    "ChatMessage",
    "Completion",
    "Delta",
    "GenerationParams",
    "LLMSettings",
    "ModelSettings",
    "TokenUsage",
]
