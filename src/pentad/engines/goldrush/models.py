"""GoldRush tables: patterns, the stored event stream (queried by `/api/goldrush/query`), and the record
of actions that change something (`lock_account`, `notify_security`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pentad.core.db import Base, utcnow


class GoldrushPattern(Base):
    __tablename__ = "goldrush_patterns"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "pat_<hex>", as the document shows
    name: Mapped[str] = mapped_column(String(200), unique=True)
    pattern: Mapped[str] = mapped_column(Text)
    actions: Mapped[list[str]] = mapped_column(default=list)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GoldrushEvent(Base):
    __tablename__ = "goldrush_events"
    __table_args__ = (Index("ix_goldrush_events_type_timestamp", "type", "timestamp"),)

    # BIGINT on PostgreSQL; SQLite only autoincrements a column declared INTEGER
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    type: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    event_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    timestamp: Mapped[datetime] = mapped_column(index=True)  # metadata.timestamp, else arrival
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    matched_patterns: Mapped[list[str]] = mapped_column(default=list)


class GoldrushActionRecord(Base):
    __tablename__ = "goldrush_action_records"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    action: Mapped[str] = mapped_column(String(100), index=True)
    pattern_id: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(String(300), default=None)  # e.g. the locked account
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
