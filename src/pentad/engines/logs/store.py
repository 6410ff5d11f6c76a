"""Write and query log records. Text search uses the database's full-text index: the search text is split
into words and every word must appear (each quoted, so FTS syntax in user input is never interpreted)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.sql.elements import ColumnElement

from pentad.core.db import Database, isoformat_z
from pentad.engines.logs.models import LEVELS, LogRecord

WORD = re.compile(r"\w+", re.UNICODE)
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class LogQuery:
    vm_id: str | None = None
    task_id: str | None = None
    level: str | None = None  # this level and above
    search_text: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    limit: int = 100


def record_view(record: LogRecord) -> dict[str, Any]:
    return {
        "timestamp": isoformat_z(record.timestamp),
        "level": record.level,
        "message": record.message,
        "task_id": record.task_id,
        "vm_id": record.vm_id,
        "fields": record.fields,
    }


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


class LogStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def write(self, records: list[dict[str, Any]]) -> None:
        async with self._db.transaction() as session:
            for record in records:
                level = record.get("level", "info")
                session.add(
                    LogRecord(
                        level=level if level in LEVELS else "info",
                        message=str(record.get("message", ""))[:10_000],
                        task_id=record.get("task_id"),
                        vm_id=record.get("vm_id"),
                        source=record.get("source", "job"),
                        fields=dict(record.get("fields") or {}),
                    )
                )

    def _text_condition(self, search: str) -> ColumnElement[bool] | None:
        words = WORD.findall(search)[:20]
        if not words:
            return None
        if self._db.is_sqlite:
            match = " ".join('"' + word.replace('"', "") + '"' for word in words)
            matches = select(text("rowid")).select_from(text("log_records_fts"))
            return LogRecord.id.in_(matches.where(text("log_records_fts MATCH :q").bindparams(q=match)))
        return func.to_tsvector("simple", LogRecord.message).op("@@")(
            func.plainto_tsquery("simple", " ".join(words))
        )

    async def query(self, query: LogQuery) -> tuple[list[dict[str, Any]], int]:
        conditions: list[ColumnElement[bool]] = []
        if query.vm_id:
            conditions.append(LogRecord.vm_id == query.vm_id)
        if query.task_id:
            conditions.append(LogRecord.task_id == query.task_id)
        if query.level:
            conditions.append(LogRecord.level.in_(LEVELS[LEVELS.index(query.level) :]))
        if query.start_ms is not None:
            conditions.append(LogRecord.timestamp >= _from_ms(query.start_ms))
        if query.end_ms is not None:
            conditions.append(LogRecord.timestamp <= _from_ms(query.end_ms))
        if query.search_text:
            condition = self._text_condition(query.search_text)
            if condition is not None:
                conditions.append(condition)
        limit = max(1, min(query.limit, MAX_LIMIT))
        async with self._db.transaction() as session:
            total = (
                await session.execute(select(func.count()).select_from(LogRecord).where(*conditions))
            ).scalar_one()
            rows = await session.execute(
                select(LogRecord)
                .where(*conditions)
                .order_by(LogRecord.timestamp.desc(), LogRecord.id.desc())
                .limit(limit)
            )
            return [record_view(record) for record in rows.scalars()], int(total)
