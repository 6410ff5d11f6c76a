"""The log_records table. Its full-text index is created by the migration (FTS5 table and triggers on
SQLite, a GIN expression index on PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pentad.core.db import Base, utcnow

LEVELS = ("debug", "info", "warning", "error")


class LogRecord(Base):
    __tablename__ = "log_records"
    __table_args__ = (
        Index("ix_log_records_vm_id_timestamp", "vm_id", "timestamp"),
        Index("ix_log_records_task_id_timestamp", "task_id", "timestamp"),
        Index("ix_log_records_level_timestamp", "level", "timestamp"),
    )

    # BIGINT on PostgreSQL; SQLite only autoincrements a column declared INTEGER (and FTS5 needs the rowid)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    level: Mapped[str] = mapped_column(String(10), default="info")
    message: Mapped[str] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(64), default=None)
    vm_id: Mapped[str | None] = mapped_column(String(64), default=None)
    source: Mapped[str] = mapped_column(String(32), default="job")
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
