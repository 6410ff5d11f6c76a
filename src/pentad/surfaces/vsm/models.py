"""Tables owned by the VSM surface."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pentad.core.db import Base, utcnow


class WsSubscription(Base):
    """spec 000 §4.1: a subscription made over HTTP and attached to a WebSocket with `authenticate`."""

    __tablename__ = "vsm_ws_subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # sub_<hex>, the document's form
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channels: Mapped[list[str]] = mapped_column(default=list)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the one-time connection ticket carried in ws_url's `token`; only its hash is kept
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ticket_expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlgedonicSignal(Base):
    """spec 000 §5.2: a pain or pleasure signal, how it propagated and what was done about it."""

    __tablename__ = "vsm_algedonic_signals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # alg_<hex>
    type: Mapped[str] = mapped_column(String(16))  # pain | pleasure
    source: Mapped[str] = mapped_column(String(200))
    intensity: Mapped[float] = mapped_column()
    message: Mapped[str] = mapped_column(Text)
    signal_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    propagation: Mapped[list[str]] = mapped_column(default=list)
    actions_taken: Mapped[list[str]] = mapped_column(default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Agent(Base):
    """spec 000 §6: an S1 operational agent and the capabilities it may be commanded to run."""

    __tablename__ = "vsm_agents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # agent_<hex>
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="active")
    capabilities: Mapped[list[str]] = mapped_column(default=list)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    commands_run: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
