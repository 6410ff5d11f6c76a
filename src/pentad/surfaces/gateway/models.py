"""Gateway tables: VMs as the API knows them, their command executions, and received GitHub events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pentad.core.db import Base, new_id, utcnow


class Vm(Base):
    __tablename__ = "gateway_vms"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending|running|stopped|deleting|deleted|error
    vcpus: Mapped[int] = mapped_column(default=1)
    memory_mb: Mapped[int] = mapped_column(default=512)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the create request
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)  # driver facts: paths, tools, enforced limits
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class Execution(Base):
    __tablename__ = "gateway_executions"
    __table_args__ = (Index("ix_gateway_executions_vm_started", "vm_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    vm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gateway_vms.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    command: Mapped[str] = mapped_column(String(4096))
    args: Mapped[list[str]] = mapped_column(default=list)
    exit_code: Mapped[int | None] = mapped_column(default=None)
    stdout: Mapped[str] = mapped_column(Text, default="")
    stderr: Mapped[str] = mapped_column(Text, default="")
    stdout_truncated: Mapped[bool] = mapped_column(default=False)
    stderr_truncated: Mapped[bool] = mapped_column(default=False)
    timed_out: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    duration_ms: Mapped[int | None] = mapped_column(default=None)


class GithubEvent(Base):
    __tablename__ = "gateway_github_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    delivery_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # X-GitHub-Delivery
    event: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64), default=None)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
