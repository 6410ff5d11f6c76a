"""One generation at a time per loaded model, with a bounded line: CPU inference does not get faster by
running requests side by side, it thrashes. Past `max_waiting` a request is refused (503) at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pentad.engines.llm.errors import InferenceBusy


class InferenceGate:
    def __init__(self, max_waiting: int) -> None:
        self._lock = asyncio.Lock()
        self._max_waiting = max_waiting
        self.waiting = 0

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._lock.locked() and self.waiting >= self._max_waiting:
            raise InferenceBusy(self.waiting)
        self.waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._lock.release()
