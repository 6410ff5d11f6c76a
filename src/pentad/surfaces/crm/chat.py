"""spec 002 `POST /api/v1/chat`: the sales assistant, answering from the caller's workspace.

With `context.workspace_id` (the caller must be a member, else 404), the workspace's deals are kept as
embeddings (only new or changed deals are embedded again); the deals closest to the question and the
pipeline's figures go into the prompt. `confidence` is earned, not constant (docs/surfaces/crm.md):

    confidence = 0.15 + 0.45 * grounding + 0.40 * support      (0 for an empty answer)

grounding: mean cosine similarity of the retrieved deals to the question (0 without a workspace or deals),
support: the share of the answer's content words found in the facts it was given.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

from pentad.core.identity.dependencies import Core, RequirePermission, get_principal
from pentad.core.identity.principal import Principal
from pentad.engines.llm import ChatMessage
from pentad.engines.llm.access import llm_service
from pentad.surfaces.crm import analytics
from pentad.surfaces.crm.models import Deal
from pentad.surfaces.crm.service import CrmService

router = APIRouter(prefix="/api/v1", tags=["CRM: AI"], dependencies=[Depends(get_principal)])
CrmUser = Annotated[Principal, RequirePermission("crm.access")]
MAX_INDEXED_DEALS = 2000  # the most recently updated deals are searchable
TOP_DEALS = 5
WORD = re.compile(r"[a-z0-9][a-z0-9.,%$-]*")
STOPWORDS = frozenset(
    "a an and are as at be but by can do for from has have i if in into is it its of on or our so that the "
    "their them there these they this to was we were what when which will with you your".split()
)


class ChatContext(BaseModel):
    workspace_id: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, max_length=64)


class CrmChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=8000, examples=["How can I improve my sales pipeline?"])
    context: ChatContext = Field(default_factory=ChatContext)


class Source(BaseModel):
    deal_id: str
    title: str
    score: float


class CrmChatResponse(BaseModel):
    response: str
    confidence: float
    sources: list[Source]


def deal_text(deal: Deal) -> str:
    parts = [f"Deal '{deal.title}'", f"stage {deal.stage}", f"value {deal.value} {deal.currency}"]
    if deal.company:
        parts.insert(1, f"company {deal.company}")
    parts.append(f"probability {deal.probability}%")
    if deal.expected_close_date:
        parts.append(f"expected close {deal.expected_close_date.isoformat()}")
    if deal.notes:
        parts.append(f"notes: {deal.notes[:300]}")
    return "; ".join(parts)


def _words(text: str) -> set[str]:
    return {word.strip(".,") for word in WORD.findall(text.lower())} - STOPWORDS - {""}


def support(answer: str, facts: str) -> float:
    said = _words(answer)
    if not said:
        return 0.0
    return len(said & _words(facts)) / len(said)


def confidence(answer: str, facts: str, scores: list[float]) -> float:
    if not answer.strip():
        return 0.0
    grounding = sum(max(score, 0.0) for score in scores) / len(scores) if scores else 0.0
    return round(min(1.0, 0.15 + 0.45 * grounding + 0.40 * support(answer, facts)), 2)


def _pipeline_facts(summary: dict[str, Any]) -> str:
    open_pipeline = summary["open_pipeline"]
    lines = [
        f"Total deals: {summary['total_deals']}; open: {open_pipeline['count']} worth "
        f"{open_pipeline['total_value']} (weighted {open_pipeline['weighted_value']}).",
        f"Won value: {summary['won_value']}; win rate: {summary['win_rate']}; "
        f"stalled deals: {summary['stalled_deals']}.",
    ]
    stages = ", ".join(f"{row['stage']} {row['count']}" for row in summary["stages"])
    lines.append(f"Deals by stage: {stages}.")
    return "\n".join(lines)


@router.post("/chat", response_model=CrmChatResponse, summary="Send a message to the AI assistant")
async def chat(body: CrmChatRequest, principal: CrmUser, core: Core) -> CrmChatResponse:
    service = llm_service(core)
    facts = ""
    scores: list[float] = []
    sources: list[Source] = []
    if body.context.workspace_id:
        async with core.db.transaction() as session:
            workspace, _role = await CrmService(core).load_workspace(
                session, principal, body.context.workspace_id
            )
            summary = await analytics.pipeline(session, workspace.id)
            deals = (
                await session.scalars(
                    select(Deal)
                    .where(Deal.workspace_id == workspace.id)
                    .order_by(Deal.updated_at.desc())
                    .limit(MAX_INDEXED_DEALS)
                )
            ).all()
            texts = {str(deal.id): deal_text(deal) for deal in deals}
            titles = {str(deal.id): deal.title for deal in deals}
        namespace = f"crm:{workspace.id}"
        await service.index(namespace, texts)
        hits = await service.search(namespace, body.message, limit=TOP_DEALS) if texts else []
        scores = [hit.score for hit in hits]
        sources = [Source(deal_id=hit.key, title=titles.get(hit.key, ""), score=hit.score) for hit in hits]
        facts = _pipeline_facts(summary) + "\n" + "\n".join(hit.text for hit in hits)
    system = (
        "You are a sales assistant for a CRM. Answer briefly and only from these facts about the "
        "user's pipeline.\n" + facts
        if facts
        else "You are a sales assistant for a CRM. Answer briefly with practical sales advice."
    )
    result = await service.generate(
        [ChatMessage("system", system), ChatMessage("user", body.message)],
        model=None,
        params=service.params(None, 0.3),
    )
    answer = result.completion.text.strip()
    return CrmChatResponse(response=answer, confidence=confidence(answer, facts, scores), sources=sources)
