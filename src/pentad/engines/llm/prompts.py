"""Rendering a conversation for a base model, and fitting it into the context window.

A base (non-instruct) model answers nothing through a chat template; as plain text in a transcript form it
continues the `Assistant:` turn, and the `User:` stop ends its answer where it would start our next turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pentad.engines.llm.generation import ChatMessage

TRANSCRIPT_STOPS = ("\nUser:", "\nSystem:")
_SPEAKER = {"user": "User", "assistant": "Assistant", "system": "System"}


def render_transcript(messages: Sequence[ChatMessage]) -> str:
    parts: list[str] = []
    for message in messages:
        if message.role == "system":
            parts.append(message.content.strip() + "\n")
        else:
            parts.append(f"{_SPEAKER[message.role]}: {message.content.strip()}")
    parts.append("Assistant:")
    return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class FittedPrompt:
    messages: list[ChatMessage]
    prompt_tokens: int
    dropped_messages: int


class ContextOverflow(Exception):
    """Even the system prompt and the newest message do not fit with room for the answer."""

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"the message needs {needed} tokens; the context window leaves {available}")
        self.needed = needed
        self.available = available


async def fit_to_context(
    messages: Sequence[ChatMessage],
    count_tokens: Callable[[Sequence[ChatMessage]], Awaitable[int]],
    context_length: int,
    reserve_for_answer: int,
) -> FittedPrompt:
    """Drop the oldest turns (never the system prompt or the newest message) until the prompt plus the
    answer's budget fits the window."""
    system = [message for message in messages if message.role == "system"]
    turns = [message for message in messages if message.role != "system"]
    budget = context_length - reserve_for_answer
    dropped = 0
    while True:
        candidate = [*system, *turns]
        tokens = await count_tokens(candidate)
        if tokens <= budget:
            return FittedPrompt(candidate, tokens, dropped)
        if len(turns) <= 1:
            raise ContextOverflow(tokens, max(budget, 0))
        # drop a whole exchange when the oldest turn is a user turn followed by its answer
        step = 2 if len(turns) > 2 and turns[0].role == "user" and turns[1].role == "assistant" else 1
        turns = turns[step:]
        dropped += step
