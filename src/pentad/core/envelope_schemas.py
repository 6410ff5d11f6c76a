"""The error envelopes of `envelopes.render`, as OpenAPI schemas, so each operation documents the errors
it can answer with in its own document's shape (clients and schemathesis check responses against them).
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from pentad.core.surfaces import SurfaceMap

ERROR_STATUSES: Final = (400, 401, 403, 404, 409, 422, 429, 503)
_DESCRIPTIONS: Final = {
    400: "Bad request",
    401: "Missing or invalid credentials",
    403: "Not permitted",
    404: "Not found",
    409: "Conflict with the current state",
    422: "Validation failed",
    429: "Rate limited",
    503: "Temporarily unavailable",
}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class VsmErrorBody(_Open):
    code: str
    message: str
    details: dict[str, Any]


class VsmError(_Open):
    """spec 000"""

    error: VsmErrorBody
    request_id: str


class AssistantErrorBody(_Open):
    code: str
    message: str
    details: dict[str, Any]
    request_id: str


class AssistantError(_Open):
    """spec 001"""

    error: AssistantErrorBody


class CrmError(_Open):
    """spec 002"""

    error: str
    code: str
    details: dict[str, Any]


class GatewayError(_Open):
    """spec 003"""

    error: str
    message: str
    code: int


class BuildsError(_Open):
    """spec 004"""

    error: str
    detail: str
    status_code: int
    timestamp: str


ENVELOPES: Final[dict[str, type[BaseModel]]] = {
    "vsm": VsmError,
    "assistant": AssistantError,
    "crm": CrmError,
    "gateway": GatewayError,
    "builds": BuildsError,
}


def document_errors(app: FastAPI, surfaces: SurfaceMap) -> None:
    """Wrap `app.openapi` so each operation lists the error statuses it can answer with, in its surface's
    envelope (responses an operation declares itself stay), replacing FastAPI's own 422 schema, which
    Pentad never sends."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in ENVELOPES.values():
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        for path, operations in schema.get("paths", {}).items():
            name = ENVELOPES.get(surfaces.surface_for(path), AssistantError).__name__
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status in ERROR_STATUSES:
                    if str(status) in responses and status != 422:
                        continue
                    responses[str(status)] = {
                        "description": _DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
