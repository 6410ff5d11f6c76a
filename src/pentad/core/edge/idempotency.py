"""`Idempotency-Key` on POST: the first response is stored and replayed for repeats within the TTL.

A repeat with a different body is refused (422), a repeat while the first is still running gets 409,
and a first attempt that fails with 5xx is forgotten so the client can retry. Records live in the
database, so every node replays the same response.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pentad.core.context import CoreServices
from pentad.core.db import utcnow
from pentad.core.edge.middleware import request_id_of, send_json
from pentad.core.edge.models import IdempotencyRecord
from pentad.core.envelopes import render
from pentad.core.errors import ApiError, Conflict, ValidationFailed

MAX_KEY_LENGTH = 255
# A first attempt that never finished (node died) stops blocking its key after this long.
STALE_IN_PROGRESS = timedelta(minutes=5)
REPLAYED_HEADERS = ("content-type", "location")


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, core: Callable[[], CoreServices]) -> None:
        self.app = app
        self._core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        key = _header(scope, b"idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        core = self._core()
        state: dict[str, Any] = scope.get("state", {})
        surface = str(state.get("surface", core.surfaces.default))
        owner = str(state.get("caller", "anonymous"))[:80]
        if not key or len(key) > MAX_KEY_LENGTH:
            error: ApiError = ValidationFailed(
                "Idempotency-Key must be 1-255 characters",
                fields=[{"field": "Idempotency-Key", "error": "must be 1-255 characters"}],
            )
            await send_json(send, error.status, render(surface, error, request_id_of(scope)))
            return

        body = await _read_body(receive)
        request_hash = hashlib.sha256(scope["path"].encode() + b"\0" + body).hexdigest()
        settings = core.settings.idempotency
        now = utcnow()
        raced = False

        async with core.db.transaction() as session:
            await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
            record = (
                await session.execute(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.owner == owner, IdempotencyRecord.key == key
                    )
                )
            ).scalar_one_or_none()
            if (
                record is not None
                and record.status_code is None
                and now - record.created_at > STALE_IN_PROGRESS
            ):
                await session.delete(record)
                await session.flush()
                record = None
            if record is None:
                session.add(
                    IdempotencyRecord(
                        owner=owner,
                        key=key,
                        method="POST",
                        path=scope["path"],
                        request_hash=request_hash,
                        expires_at=now + timedelta(seconds=settings.ttl_seconds),
                    )
                )
                try:
                    await session.flush()
                except IntegrityError:
                    # another node inserted the same key between our select and insert
                    await session.rollback()
                    raced = True

        if raced:
            error = Conflict("A request with this Idempotency-Key is already in progress")
            await send_json(send, error.status, render(surface, error, request_id_of(scope)))
            return
        if record is not None:
            await self._replay(scope, send, record, request_hash, surface)
            return

        captured: dict[str, Any] = {"status": None, "headers": [], "body": bytearray(), "streaming": False}

        body_sent = False

        async def replay_receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        stored = False

        async def capture_send(message: Message) -> None:
            nonlocal stored
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                if len(captured["body"]) + len(message.get("body", b"")) <= settings.max_body_bytes:
                    captured["body"].extend(message.get("body", b""))
                else:
                    captured["streaming"] = True
                if message.get("more_body"):
                    captured["streaming"] = True
                else:
                    # saved before the last byte leaves: a client that repeats the request the moment it
                    # has its answer must get the replay, not "already in progress"
                    await self._store(core, owner, key, captured)
                    stored = True
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        finally:
            if not stored:
                await self._store(core, owner, key, captured)

    async def _replay(
        self, scope: Scope, send: Send, record: IdempotencyRecord, request_hash: str, surface: str
    ) -> None:
        if record.request_hash != request_hash:
            error: ApiError = ValidationFailed(
                "Idempotency-Key was already used with a different request",
                fields=[{"field": "Idempotency-Key", "error": "reused with a different request"}],
            )
            await send_json(send, error.status, render(surface, error, request_id_of(scope)))
            return
        if record.status_code is None:
            error = Conflict("A request with this Idempotency-Key is already in progress")
            await send_json(send, error.status, render(surface, error, request_id_of(scope)))
            return
        headers = [(name.encode(), str(value).encode()) for name, value in record.headers.items()]
        headers.append((b"idempotent-replayed", b"true"))
        headers.append((b"content-length", str(len(record.body)).encode()))
        await send({"type": "http.response.start", "status": record.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": record.body})

    async def _store(self, core: CoreServices, owner: str, key: str, captured: dict[str, Any]) -> None:
        status = captured["status"]
        keep = status is not None and status < 500 and not captured["streaming"]
        async with core.db.transaction() as session:
            record = await session.get(IdempotencyRecord, (owner, key))
            if record is None:
                return
            if not keep:
                await session.delete(record)
                return
            record.status_code = int(status)
            record.headers = {
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in captured["headers"]
                if name.decode("latin-1").lower() in REPLAYED_HEADERS
            }
            record.body = bytes(captured["body"])


def _header(scope: Scope, name: bytes) -> str | None:
    for header, value in scope.get("headers", []):
        if header == name:
            return str(value.decode("latin-1").strip())
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)
