"""Publish/subscribe with channel names and field filters.

`MemoryBus` delivers within one process (the embedded default). `RedisBus` carries every message through
Redis pub/sub, so a subscriber on node A sees what node B published; each node then dispatches to its
local subscribers exactly as the memory bus does. Subscribers have bounded queues: one that falls behind
is dropped with a close reason instead of slowing publishers down.

Channel names come from `pentad.core.channels`. A subscription pattern is an exact name or ends in `*`
(`job.*`). Filters are `{field: [allowed values]}`: a message passes when, for each filter, its payload
field (or the singular of a plural filter name: `systems` -> `system`) is absent or one of the values.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pentad.core.db import isoformat_z, utcnow

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1000
SLOW_CONSUMER = "subscriber too slow: queue full"


@dataclass(frozen=True, slots=True)
class Message:
    channel: str
    type: str
    payload: dict[str, Any]
    timestamp: str
    id: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "channel": self.channel,
                "type": self.type,
                "payload": self.payload,
                "timestamp": self.timestamp,
                "id": self.id,
            },
            separators=(",", ":"),
            default=str,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Message:
        data = json.loads(raw)
        return cls(data["channel"], data["type"], data["payload"], data["timestamp"], data["id"])


def channel_matches(pattern: str, channel: str) -> bool:
    if pattern.endswith("*"):
        return channel.startswith(pattern[:-1])
    return pattern == channel


def filters_match(filters: dict[str, list[Any]], payload: dict[str, Any]) -> bool:
    for name, allowed in filters.items():
        if not allowed:
            continue
        key = name if name in payload else name[:-1] if name.endswith("s") and name[:-1] in payload else None
        if key is None:
            continue  # the message does not carry this field: the filter does not apply to it
        if payload[key] not in allowed:
            return False
    return True


@dataclass(eq=False)
class Subscription:
    patterns: list[str]
    filters: dict[str, list[Any]] = field(default_factory=dict)
    maxsize: int = DEFAULT_QUEUE_SIZE
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    closed_reason: str | None = None

    def __post_init__(self) -> None:
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(self.maxsize)

    def wants(self, message: Message) -> bool:
        return any(channel_matches(p, message.channel) for p in self.patterns) and filters_match(
            self.filters, message.payload
        )

    def add_patterns(self, patterns: Iterable[str]) -> None:
        for pattern in patterns:
            if pattern not in self.patterns:
                self.patterns.append(pattern)

    def offer(self, message: Message) -> bool:
        """Queue a message without waiting; a full queue closes the subscription."""
        if self.closed_reason is not None:
            return False
        try:
            self._queue.put_nowait(message)
            return True
        except asyncio.QueueFull:
            self.close(SLOW_CONSUMER)
            return False

    def close(self, reason: str) -> None:
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        # make room for the end marker so a waiting reader wakes up
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def get(self, timeout: float | None = None) -> Message | None:
        """The next message, or None once closed (or when `timeout` passes)."""
        if self.closed_reason is not None and self._queue.empty():
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            message = await self.get()
            if message is None:
                return
            yield message


class Bus(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def publish(self, channel: str, type_: str, payload: dict[str, Any]) -> Message: ...
    def subscribe(
        self, patterns: Iterable[str], filters: dict[str, list[Any]] | None = None, maxsize: int = ...
    ) -> Subscription: ...
    def unsubscribe(self, subscription: Subscription) -> None: ...
    async def healthy(self) -> bool: ...


class _LocalDispatch:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self.published = 0
        self.dropped = 0

    def subscribe(
        self,
        patterns: Iterable[str],
        filters: dict[str, list[Any]] | None = None,
        maxsize: int = DEFAULT_QUEUE_SIZE,
    ) -> Subscription:
        subscription = Subscription(list(patterns), dict(filters or {}), maxsize)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        subscription.close("unsubscribed")

    def dispatch(self, message: Message) -> None:
        self.published += 1
        for subscription in list(self._subscriptions):
            if subscription.wants(message) and not subscription.offer(message):
                self.dropped += 1
                self._subscriptions.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)


def _message(channel: str, type_: str, payload: dict[str, Any]) -> Message:
    return Message(channel, type_, payload, isoformat_z(utcnow()), uuid.uuid4().hex)


class MemoryBus(_LocalDispatch):
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            self.unsubscribe(subscription)

    async def publish(self, channel: str, type_: str, payload: dict[str, Any]) -> Message:
        message = _message(channel, type_, payload)
        self.dispatch(message)
        return message

    async def healthy(self) -> bool:
        return True


class RedisBus(_LocalDispatch):
    """Every node publishes to Redis and listens on one pattern subscription for its prefix."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__()
        self._redis = redis
        self._prefix = f"{prefix}:bus:"
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.psubscribe(self._prefix + "*")
        self._listener = asyncio.create_task(self._listen(), name="pentad-bus-listener")
        self._ready.set()

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                raw = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: keep trying, subscribers keep their queues
                log.warning("bus listener lost Redis: %s", exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    await self._pubsub.psubscribe(self._prefix + "*")
                continue
            if raw is None or raw.get("type") != "pmessage":
                continue
            try:
                self.dispatch(Message.from_json(raw["data"]))
            except (ValueError, KeyError):
                log.warning("ignored a malformed bus message")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        for subscription in list(self._subscriptions):
            self.unsubscribe(subscription)

    async def publish(self, channel: str, type_: str, payload: dict[str, Any]) -> Message:
        message = _message(channel, type_, payload)
        try:
            await self._redis.publish(self._prefix + channel, message.to_json())
        except Exception as exc:
            # Redis down: local subscribers still hear it; other nodes miss it until Redis returns.
            log.warning("bus publish fell back to local delivery: %s", exc)
            self.dispatch(message)
        return message

    async def healthy(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False
