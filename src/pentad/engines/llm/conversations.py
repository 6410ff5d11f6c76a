"""Persisted conversations. Each step is its own short transaction: a generation takes seconds, and holding
a write transaction that long would stall every other writer on SQLite."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pentad.core.db import Database, utcnow
from pentad.engines.llm.generation import ChatMessage, TokenUsage
from pentad.engines.llm.models import Conversation, ConversationMessage

# the newest messages read back into a prompt; older ones would be trimmed from any context window anyway
HISTORY_LIMIT = 200


@dataclass(frozen=True, slots=True)
class ConversationState:
    conversation_id: str
    model: str | None
    system_prompt: str | None
    history: list[ChatMessage]


@dataclass(frozen=True, slots=True)
class StoredTurn:
    message_id: uuid.UUID
    created_at: datetime


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self, owner: str, conversation_id: str | None) -> ConversationState:
        """The conversation's settings and history; a new or unknown id starts an empty one."""
        if conversation_id is None:
            return ConversationState(str(uuid.uuid4()), None, None, [])
        async with self._db.transaction() as session:
            conversation = await session.scalar(
                select(Conversation).where(
                    Conversation.owner == owner, Conversation.conversation_id == conversation_id
                )
            )
            if conversation is None:
                return ConversationState(conversation_id, None, None, [])
            rows = (
                await session.scalars(
                    select(ConversationMessage)
                    .where(ConversationMessage.conversation_key == conversation.key)
                    .order_by(ConversationMessage.position.desc())
                    .limit(HISTORY_LIMIT)
                )
            ).all()
            history = [ChatMessage(row.role, row.content) for row in reversed(rows)]  # type: ignore[arg-type]
            return ConversationState(
                conversation.conversation_id, conversation.model, conversation.system_prompt, history
            )

    async def append(
        self,
        owner: str,
        conversation_id: str,
        *,
        model: str,
        system_prompt: str | None,
        user_message: str,
        answer: str,
        usage: TokenUsage,
    ) -> StoredTurn:
        for attempt in range(2):
            try:
                return await self._append(
                    owner, conversation_id, model, system_prompt, user_message, answer, usage
                )
            except IntegrityError:
                # another request created the same new conversation a moment ago: append to that one
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _append(
        self,
        owner: str,
        conversation_id: str,
        model: str,
        system_prompt: str | None,
        user_message: str,
        answer: str,
        usage: TokenUsage,
    ) -> StoredTurn:
        async with self._db.transaction() as session:
            conversation = await session.scalar(
                select(Conversation)
                .where(Conversation.owner == owner, Conversation.conversation_id == conversation_id)
                .with_for_update()  # PostgreSQL: appends to one conversation take turns
            )
            if conversation is None:
                conversation = Conversation(conversation_id=conversation_id, owner=owner, model=model)
                session.add(conversation)
                await session.flush()
            conversation.model = model
            if system_prompt is not None:
                conversation.system_prompt = system_prompt
            conversation.prompt_tokens += usage.prompt
            conversation.completion_tokens += usage.completion
            conversation.updated_at = utcnow()
            position = conversation.message_count
            conversation.message_count += 2
            session.add(
                ConversationMessage(
                    conversation_key=conversation.key,
                    position=position,
                    role="user",
                    content=user_message,
                    tokens=usage.prompt,
                )
            )
            reply = ConversationMessage(
                conversation_key=conversation.key,
                position=position + 1,
                role="assistant",
                content=answer,
                tokens=usage.completion,
                model=model,
            )
            session.add(reply)
            await session.flush()
            return StoredTurn(reply.id, reply.created_at)
