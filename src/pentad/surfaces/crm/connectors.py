"""Integration connectors: where deal records come from.

- `csv` / `json`: a file uploaded to `POST /integrations/{id}/sync`, or `config.url` fetched over HTTP.
- `rest`: a generic REST API: `config.base_url` + `config.path`, an optional auth header
  (`auth_header`, `auth_value`), the records at `config.records_path` (dotted, e.g. `data.items`), and
  page-number pagination (`page_param`, up to `max_pages`) until a page comes back empty.

Every connector yields batches of raw records; `map_record` turns one into deal fields using
`config.field_mapping` ({deal field: source field}), so any source's names fit.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

import httpx

from pentad.core.errors import ValidationFailed
from pentad.core.webhooks.urls import check_outbound_url

BATCH_SIZE = 200
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
DEAL_FIELDS = (
    "external_id",
    "title",
    "value",
    "currency",
    "stage",
    "probability",
    "company",
    "contact_email",
    "expected_close_date",
    "notes",
)
SECRET_KEYS = ("auth_value", "token", "password", "api_key")


class Connector(Protocol):
    def batches(self) -> AsyncIterator[list[dict[str, Any]]]: ...


def masked(config: dict[str, Any]) -> dict[str, Any]:
    return {key: ("***" if key in SECRET_KEYS and value else value) for key, value in config.items()}


def validate_config(kind: str, config: dict[str, Any], allowed_hosts: list[str]) -> None:
    """Refuse at connect time what the sync job would refuse later, outbound URLs included (SSRF)."""
    mapping = config.get("field_mapping", {})
    if not isinstance(mapping, dict) or any(key not in DEAL_FIELDS for key in mapping):
        raise ValidationFailed(
            "field_mapping maps deal fields to source fields",
            fields=[{"field": "config.field_mapping", "error": f"keys must be among {list(DEAL_FIELDS)}"}],
        )
    if kind == "rest" and not config.get("base_url"):
        raise ValidationFailed(
            "rest integrations need config.base_url",
            fields=[{"field": "config.base_url", "error": "required"}],
        )
    for key in ("base_url", "url"):
        if config.get(key):
            check_outbound_url(str(config[key]), allowed_hosts, field=f"config.{key}")


def _chunks(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [records[start : start + BATCH_SIZE] for start in range(0, len(records), BATCH_SIZE)]


def parse_file(kind: str, content: bytes) -> list[dict[str, Any]]:
    text = content.decode("utf-8-sig")
    if kind == "csv":
        return [dict(row) for row in csv.DictReader(io.StringIO(text))]
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("deals", data.get("data", data.get("items", [])))
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError('JSON import needs a list of objects (or {"deals": [...]})')
    return data


class FileConnector:
    def __init__(
        self, kind: str, config: dict[str, Any], upload: Path | None, allowed_hosts: list[str]
    ) -> None:
        self.kind = kind
        self.config = config
        self.upload = upload
        self.allowed_hosts = allowed_hosts

    async def _content(self) -> bytes:
        if self.upload is not None:
            return self.upload.read_bytes()
        url = self.config.get("url")
        if not url:
            raise ValueError("upload a file or set config.url")
        check_outbound_url(str(url), self.allowed_hosts, field="config.url")
        async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
            response = await client.get(str(url))
            response.raise_for_status()
            if len(response.content) > MAX_DOWNLOAD_BYTES:
                raise ValueError("file is larger than 50 MiB")
            return response.content

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        for chunk in _chunks(parse_file(self.kind, await self._content())):
            yield chunk


def _dig(data: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        data = data.get(part) if isinstance(data, dict) else None
    return data


class RestConnector:
    def __init__(self, config: dict[str, Any], allowed_hosts: list[str]) -> None:
        self.config = config
        self.allowed_hosts = allowed_hosts

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        base = str(self.config["base_url"]).rstrip("/")
        url = base + "/" + str(self.config.get("path", "")).lstrip("/") if self.config.get("path") else base
        check_outbound_url(url, self.allowed_hosts, field="config.base_url")
        headers = {}
        if self.config.get("auth_header") and self.config.get("auth_value"):
            headers[str(self.config["auth_header"])] = str(self.config["auth_value"])
        page_param = self.config.get("page_param")
        max_pages = int(self.config.get("max_pages", 100))
        records_path = str(self.config.get("records_path", ""))
        async with httpx.AsyncClient(timeout=30, follow_redirects=False, headers=headers) as client:
            for page in range(1, max_pages + 1):
                params = {str(page_param): page} if page_param else {}
                response = await client.get(url, params=params)
                response.raise_for_status()
                records = _dig(response.json(), records_path) if records_path else response.json()
                if not isinstance(records, list):
                    raise ValueError(f"no list of records at '{records_path or '(root)'}'")
                if not records:
                    return
                for chunk in _chunks([r for r in records if isinstance(r, dict)]):
                    yield chunk
                if not page_param:
                    return


def build_connector(
    kind: str, config: dict[str, Any], upload: Path | None, allowed_hosts: list[str]
) -> Connector:
    if kind == "rest":
        return RestConnector(config, allowed_hosts)
    return FileConnector(kind, config, upload, allowed_hosts)


def map_record(record: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Deal fields from one source record; raises ValueError with the reason when it cannot be imported."""
    fields: dict[str, Any] = {}
    for name in DEAL_FIELDS:
        source = mapping.get(name, name if name != "external_id" else "id")
        value = record.get(source)
        if value not in (None, ""):
            fields[name] = value
    if "title" not in fields:
        raise ValueError("record has no title")
    if "external_id" not in fields:
        raise ValueError("record has no id (map external_id to a unique source field)")
    fields["external_id"] = str(fields["external_id"])[:200]
    fields["title"] = str(fields["title"])[:300]
    if "value" in fields:
        try:
            fields["value"] = Decimal(str(fields["value"]).replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"value {fields['value']!r} is not a number") from None
    if "probability" in fields:
        fields["probability"] = int(float(fields["probability"]))
    if "stage" in fields:
        fields["stage"] = str(fields["stage"]).strip().lower()
    return fields
