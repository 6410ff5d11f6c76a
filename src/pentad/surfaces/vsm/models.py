"""Tables owned by the VSM surface."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
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
