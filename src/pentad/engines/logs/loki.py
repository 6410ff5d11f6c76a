"""Push log records to Grafana Loki's HTTP API (`POST /loki/api/v1/push`) when `gateway.loki_url` is set.

Labels stay low-cardinality (service, level, source); task and VM ids travel in the JSON line, where
LogQL's `| json` reaches them. Pushing is best effort: a Loki outage is logged and counted, never raised
into the job that wrote the line.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from typing import Any

import httpx

log = logging.getLogger(__name__)


class LokiPusher:
    def __init__(self, url: str, client: httpx.AsyncClient | None = None, service: str = "pentad") -> None:
        self.endpoint = url.rstrip("/") + "/loki/api/v1/push"
        self._client = client or httpx.AsyncClient(timeout=5)
        self._service = service
        self.pushed = 0
        self.failures = 0

    def payload(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        streams: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
        now_ns = time.time_ns()
        for offset, record in enumerate(records):
            key = (str(record.get("level", "info")), str(record.get("source", "job")))
            line = {k: record.get(k) for k in ("message", "task_id", "vm_id", "fields")}
            # Loki orders by timestamp; the offset keeps lines of one batch in the order they were written
            streams[key].append([str(now_ns + offset), json.dumps(line, default=str, separators=(",", ":"))])
        return {
            "streams": [
                {"stream": {"service": self._service, "level": level, "source": source}, "values": values}
                for (level, source), values in streams.items()
            ]
        }

    async def push(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        try:
            response = await self._client.post(self.endpoint, json=self.payload(records))
            response.raise_for_status()
            self.pushed += len(records)
        except httpx.HTTPError as exc:
            self.failures += 1
            log.warning("Loki push failed (%s records): %s", len(records), exc)

    async def close(self) -> None:
        await self._client.aclose()
