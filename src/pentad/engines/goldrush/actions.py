"""Named actions a pattern runs when it matches. A name without a handler is still reported in
`actions_triggered` and delivered to `pattern.matched` webhook subscribers, who act on it themselves.

Built-ins here need only the core: `send_alert` publishes a `vsm.alert`; `notify_security` and
`lock_account` write an action record and publish. Surfaces register more (the VSM surface adds
`scale_up`, which raises an algedonic signal). Handlers write in the request's transaction and publish
after it commits.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from pentad.core import channels
from pentad.core.context import CoreServices
from pentad.core.db import after_commit
from pentad.engines.goldrush.compiler import CompiledPattern
from pentad.engines.goldrush.models import GoldrushActionRecord

SEVERITIES: Final = ("low", "medium", "high", "critical")
# where an account or a source is named in an event's data, in order of preference
ACCOUNT_FIELDS: Final = ("user_id", "account_id", "username", "user", "email")
SOURCE_FIELDS: Final = ("ip", "source_ip", "client_ip", "host")


@dataclass(frozen=True, slots=True)
class ActionContext:
    core: CoreServices
    session: AsyncSession
    pattern: CompiledPattern
    event: Mapping[str, Any]
    event_id: int
    timestamp: str  # when the match happened, ISO 8601


ActionHandler = Callable[[ActionContext], Awaitable[None]]


class ActionRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, ActionHandler] = {}

    def register(self, name: str, handler: ActionHandler) -> None:
        self._handlers[name] = handler

    def get(self, name: str) -> ActionHandler | None:
        return self._handlers.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._handlers))


def _data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event.get("data")
    return data if isinstance(data, Mapping) else {}


def _first_field(event: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    data = _data(event)
    for name in names:
        value = data.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:300]
    return None


def _severity(event: Mapping[str, Any], default: str) -> str:
    value = _data(event).get("severity")
    return value if isinstance(value, str) and value in SEVERITIES else default


def alert(ctx: ActionContext, *, severity: str, system: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "alert_" + secrets.token_hex(6),
        "severity": severity,
        "system": system,
        "message": message,
        "timestamp": ctx.timestamp,
        "data": {
            "pattern_id": ctx.pattern.id,
            "pattern_name": ctx.pattern.name,
            "event_id": ctx.event_id,
            "event_type": ctx.event.get("type"),
            **extra,
        },
    }


async def _publish_alert(ctx: ActionContext, payload: dict[str, Any]) -> None:
    if payload["severity"] in ("high", "critical"):
        await ctx.core.webhooks.emit(ctx.session, "system.alert", payload, style="vsm")
    bus = ctx.core.bus

    async def publish() -> None:
        await bus.publish(channels.VSM_ALERTS, "vsm.alert", payload)

    after_commit(ctx.session, publish)


async def send_alert(ctx: ActionContext) -> None:
    payload = alert(
        ctx,
        severity=_severity(ctx.event, "high"),
        system="s3",
        message=f"Pattern '{ctx.pattern.name}' matched a {ctx.event.get('type')} event",
    )
    await _publish_alert(ctx, payload)


async def _record(ctx: ActionContext, action: str, subject: str | None) -> GoldrushActionRecord:
    record = GoldrushActionRecord(
        action=action,
        pattern_id=ctx.pattern.id,
        subject=subject,
        detail={"pattern_name": ctx.pattern.name, "event_id": ctx.event_id, "event": dict(ctx.event)},
    )
    ctx.session.add(record)
    await ctx.session.flush()
    return record


async def notify_security(ctx: ActionContext) -> None:
    account = _first_field(ctx.event, ACCOUNT_FIELDS)
    source = _first_field(ctx.event, SOURCE_FIELDS)
    record = await _record(ctx, "notify_security", account or source)
    payload = alert(
        ctx,
        severity=_severity(ctx.event, "critical"),
        system="s3",
        message=f"Security: pattern '{ctx.pattern.name}' matched",
        account=account,
        source=source,
        record_id=str(record.id),
    )
    await _publish_alert(ctx, payload)


async def lock_account(ctx: ActionContext) -> None:
    account = _first_field(ctx.event, ACCOUNT_FIELDS)
    record = await _record(ctx, "lock_account", account)
    request = {
        "record_id": str(record.id),
        "account": account,
        "pattern_id": ctx.pattern.id,
        "pattern_name": ctx.pattern.name,
        "event_id": ctx.event_id,
        "timestamp": ctx.timestamp,
    }
    bus = ctx.core.bus

    async def publish() -> None:
        # S1 agents that own the accounts listen here and enforce the lock
        await bus.publish(channels.AGENT_EVENTS, "account.lock_requested", request)

    after_commit(ctx.session, publish)


def builtin_actions() -> ActionRegistry:
    registry = ActionRegistry()
    registry.register("send_alert", send_alert)
    registry.register("notify_security", notify_security)
    registry.register("lock_account", lock_account)
    return registry
