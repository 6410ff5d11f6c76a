"""Tables of the LLM engine: conversations with their messages, and stored embeddings."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pentad.core.db import Base, utcnow


class Conversation(Base):
    __tablename__ = "llm_conversations"
    __table_args__ = (UniqueConstraint("owner", "conversation_id", name="uq_llm_conversations_owner_id"),)

    key: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # the id clients see; clients may choose it (spec 001 shows "conv-123"), so it is unique per owner
    conversation_id: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    system_prompt: Mapped[str | None] = mapped_column(Text, default=None)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConversationMessage(Base):
    __tablename__ = "llm_messages"
    __table_args__ = (UniqueConstraint("conversation_key", "position", name="uq_llm_messages_position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    conversation_key: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("llm_conversations.key", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)  # order within the conversation
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoredEmbedding(Base):
    """One text's vector in a namespace (e.g. a CRM workspace's deals), refreshed when the text changes."""

    __tablename__ = "llm_embeddings"
    __table_args__ = (
        UniqueConstraint("namespace", "item_key", "model", name="uq_llm_embeddings_item"),
        Index("ix_llm_embeddings_namespace_model", "namespace", "model"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    namespace: Mapped[str] = mapped_column(String(200))
    item_key: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    dimensions: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # little-endian float32, unit length
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
