"""Pentad's Python SDK: typed sync and async clients for the five documents, on httpx and websockets.

    from pentad.sdk import VSMClient
    client = VSMClient("http://127.0.0.1:8000", api_key="sk-...")
    print(client.vsm.status().status)

| document | sync | async |
|---|---|---|
| spec 000 VSM Phoenix | `VSMClient`, `LLMClient` | `AsyncVSMClient`, `AsyncLLMClient` |
| spec 001 PiSovereign | `AssistantClient` | `AsyncAssistantClient` |
| spec 002 VectorOS | `CRMClient` | `AsyncCRMClient` |
| spec 003 Aetherium | `GatewayClient` | `AsyncGatewayClient` |
| spec 004 builds | `BuildClient` | `AsyncBuildClient` |

Every client retries 429 and 503 (honouring `Retry-After`) and connection failures with exponential
backoff, takes `idempotency_key=` on its POSTs, and raises `PentadError` subclasses carrying the status,
code, message, details and request id of each document's error envelope. docs/sdk.md has the guide.
This package imports nothing of the server: it needs only httpx, websockets and pydantic.
"""

from pentad.sdk._core import RetryPolicy
from pentad.sdk.assistant import AssistantClient, AsyncAssistantClient
from pentad.sdk.builds import AsyncBuildClient, BuildClient
from pentad.sdk.crm import AsyncCRMClient, CRMClient
from pentad.sdk.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PentadConnectionError,
    PentadError,
    PentadTimeoutError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
    TaskTimeoutError,
    UnprocessableEntityError,
    WebSocketClosedError,
)
from pentad.sdk.gateway import AsyncGatewayClient, GatewayClient
from pentad.sdk.vsm import AsyncLLMClient, AsyncVSMClient, LLMClient, VSMClient

__all__ = [
    "AssistantClient",
    "AsyncAssistantClient",
    "AsyncBuildClient",
    "AsyncCRMClient",
    "AsyncGatewayClient",
    "AsyncLLMClient",
    "AsyncVSMClient",
    "AuthenticationError",
    "BadRequestError",
    "BuildClient",
    "CRMClient",
    "ConflictError",
    "GatewayClient",
    "LLMClient",
    "NotFoundError",
    "PentadConnectionError",
    "PentadError",
    "PentadTimeoutError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailableError",
    "StreamError",
    "TaskTimeoutError",
    "UnprocessableEntityError",
    "VSMClient",
    "WebSocketClosedError",
]
