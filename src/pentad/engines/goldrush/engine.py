"""The GoldRush engine: keeps the compiled, indexed pattern set in step with the database, matches each
submitted event, stores it, and runs the matched patterns' actions.

Every node reloads its pattern set when the table changes (checked with one cheap query per event, so a
pattern created on node A matches on node B at once, with no extra channel to configure). A stored
pattern that no longer compiles is skipped and logged rather than failing every event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pentad.core import channels
from pentad.core.context import CoreServices
from pentad.core.db import after_commit, isoformat_z, utcnow
from pentad.engines.goldrush.actions import ActionContext, ActionRegistry
from pentad.engines.goldrush.compiler import CompiledPattern, aggregate_value, compile_pattern
from pentad.engines.goldrush.errors import PatternSyntaxError
from pentad.engines.goldrush.index import PatternIndex
from pentad.engines.goldrush.models import GoldrushEvent, GoldrushPattern
from pentad.engines.goldrush.values import Getter, value_key
from pentad.engines.goldrush.windows import WindowStore

log = logging.getLogger(__name__)
_LONG_GROUP = 64  # group values longer than this are hashed into the window key


@dataclass(frozen=True, slots=True)
class Submission:
    event_id: int
    matched_patterns: list[str]
    actions_triggered: list[str]
    processing_time_ms: float


class GoldRushEngine:
    def __init__(
        self,
        core: CoreServices,
        windows: WindowStore,
        actions: ActionRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self.windows = windows
        self.actions = actions
        self.clock = clock
        self.index = PatternIndex(())
        self._signature: tuple[int, datetime | None] | None = None
        self._reload = asyncio.Lock()

    async def refresh(self, session: AsyncSession) -> None:
        """Reload the pattern set when the table has changed since the last load."""
        row = (await session.execute(select(func.count(), func.max(GoldrushPattern.updated_at)))).one()
        signature = (int(row[0]), row[1])
        if signature == self._signature:
            return
        async with self._reload:
            if signature == self._signature:
                return
            rows = await session.execute(
                select(GoldrushPattern).order_by(GoldrushPattern.created_at, GoldrushPattern.id)
            )
            compiled: list[CompiledPattern] = []
            for pattern in rows.scalars():
                try:
                    compiled.append(
                        compile_pattern(pattern.id, pattern.name, pattern.pattern, tuple(pattern.actions))
                    )
                except PatternSyntaxError as error:
                    log.error("goldrush pattern %s no longer compiles: %s", pattern.id, error)
            self.index = PatternIndex(compiled)
            self._signature = signature

    async def forget(self, pattern_id: str) -> None:
        """Drop a deleted pattern's window state."""
        await self.windows.forget(f"{pattern_id}:")

    async def submit(
        self,
        session: AsyncSession,
        event_type: str,
        data: dict[str, Any],
        metadata: dict[str, Any],
        timestamp: datetime | None,
    ) -> Submission:
        started = time.perf_counter()
        await self.refresh(session)
        event = {"type": event_type, "data": data, "metadata": metadata}
        now = self.clock()
        matched = [
            pattern for pattern in self.index.candidates(event) if await self._fires(pattern, event, now)
        ]
        arrived = utcnow()
        row = GoldrushEvent(
            type=event_type,
            data=data,
            event_metadata=metadata,
            timestamp=timestamp or arrived,
            received_at=arrived,
            matched_patterns=[pattern.name for pattern in matched],
        )
        session.add(row)
        await session.flush()
        triggered: list[str] = []
        moment = isoformat_z(arrived)
        for pattern in matched:
            ran = await self._run_actions(session, pattern, event, row.id, moment)
            for name in pattern.actions:
                if name not in triggered:
                    triggered.append(name)
            await self._announce(session, pattern, event, row.id, moment, ran)
        return Submission(
            event_id=row.id,
            matched_patterns=[pattern.name for pattern in matched],
            actions_triggered=triggered,
            processing_time_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    async def _fires(self, pattern: CompiledPattern, event: Mapping[str, Any], now: float) -> bool:
        sequence = pattern.sequence
        if sequence is not None:
            key = _window_key(pattern.id, sequence.group, event)
            if key is None:
                return False
            # an event can be both steps: it completes an earlier first step before starting a new one
            fired = sequence.then(event) and await self.windows.consume(key, now, sequence.window_seconds)
            if sequence.first(event):
                await self.windows.remember(key, now, sequence.window_seconds)
            return fired
        if not pattern.condition(event):
            return False
        aggregate = pattern.aggregate
        if aggregate is None:
            return True
        value = aggregate_value(aggregate, event)
        key = _window_key(pattern.id, aggregate.group, event)
        if value is None or key is None:
            return False
        observation = await self.windows.observe(
            key, now, aggregate.window_seconds, value, aggregate.function, aggregate.op, aggregate.threshold
        )
        return observation.fired

    async def _run_actions(
        self,
        session: AsyncSession,
        pattern: CompiledPattern,
        event: Mapping[str, Any],
        event_id: int,
        moment: str,
    ) -> list[str]:
        """Run the handlers this node knows; each in a savepoint, so one failing action leaves the event
        and the other actions stored."""
        ran: list[str] = []
        context = ActionContext(self.core, session, pattern, event, event_id, moment)
        for name in pattern.actions:
            handler = self.actions.get(name)
            if handler is None:
                continue
            try:
                async with session.begin_nested():
                    await handler(context)
            except Exception:
                log.exception("goldrush action %s of pattern %s failed", name, pattern.id)
                continue
            ran.append(name)
        return ran

    async def _announce(
        self,
        session: AsyncSession,
        pattern: CompiledPattern,
        event: Mapping[str, Any],
        event_id: int,
        moment: str,
        ran: list[str],
    ) -> None:
        await self.core.webhooks.emit(
            session,
            "pattern.matched",
            {
                "pattern_id": pattern.id,
                "pattern_name": pattern.name,
                "matched_event": dict(event),
                "event_id": event_id,
                "actions_triggered": list(pattern.actions),
                "actions_handled": ran,
            },
            style="vsm",
        )
        payload = {
            "pattern_id": pattern.id,
            "pattern_name": pattern.name,
            "event": {"type": event["type"], "data": event["data"]},
            "actions_triggered": list(pattern.actions),
            "timestamp": moment,
        }
        bus = self.core.bus

        async def publish() -> None:
            await bus.publish(channels.GOLDRUSH_MATCHES, "goldrush.match", payload)

        after_commit(session, publish)


def _window_key(pattern_id: str, group: Getter | None, event: Mapping[str, Any]) -> str | None:
    """`<pattern>:<group value>`; None when the event lacks a usable group value (it does not count)."""
    if group is None:
        return f"{pattern_id}:"
    value = group(event)
    if value_key(value) is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 3 and 3.0 are one group, as they are one index key
    text = json.dumps(value, separators=(",", ":"))
    if len(text) > _LONG_GROUP:
        text = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return f"{pattern_id}:{text}"
