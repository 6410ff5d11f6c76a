"""spec 001 WhatsApp webhook: `GET /v1/webhooks/whatsapp` answers Meta's verification handshake,
`POST /v1/webhooks/whatsapp` takes signed message notifications. Each incoming text message becomes a job
that answers it through the chat engine (one conversation per sender) and sends the reply through the
WhatsApp Cloud API. Meta redelivers notifications, so a message id is answered once."""

from __future__ import annotations

import hmac
import json
from typing import Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import select

from pentad.core.context import CoreServices
from pentad.core.errors import BadRequest, Forbidden, UpstreamError
from pentad.core.identity.dependencies import Core, DbSession
from pentad.core.jobs.context import JobContext
from pentad.core.jobs.models import Job
from pentad.core.jobs.registry import JobRegistry, JobSpec
from pentad.core.webhooks.inbound import verify_hub_signature
from pentad.engines.llm.access import llm_service

router = APIRouter(prefix="/v1/webhooks", tags=["Assistant: Webhooks"])
REPLY_JOB = "assistant:whatsapp_reply"
MAX_REPLY_CHARS = 4096  # WhatsApp's limit for a text message body


class WhatsAppAck(BaseModel):
    status: str
    messages: int


class WhatsAppClient:
    """Sends text messages through the Cloud API: `POST {api_url}/{phone_number_id}/messages`."""

    def __init__(self, api_url: str, phone_number_id: str, access_token: str) -> None:
        self._url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self._token = access_token

    async def send_text(self, to: str, body: str) -> str | None:
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"preview_url": False, "body": body[:MAX_REPLY_CHARS]},
        }
        async with httpx.AsyncClient(timeout=15) as client:
            try:
                response = await client.post(
                    self._url, json=payload, headers={"Authorization": f"Bearer {self._token}"}
                )
                response.raise_for_status()
            except httpx.HTTPStatusError as exc:
                raise UpstreamError(f"WhatsApp API answered {exc.response.status_code}") from None
            except httpx.HTTPError as exc:
                raise UpstreamError(f"WhatsApp API unreachable: {type(exc).__name__}") from None
        messages = response.json().get("messages") or [{}]
        sent = messages[0].get("id")
        return str(sent) if sent else None


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def text_messages(payload: dict[str, Any]) -> list[dict[str, str]]:
    """`{from, text, id}` for each text message in a notification; statuses and other types are skipped."""
    found: list[dict[str, str]] = []
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            for message in value.get("messages") or []:
                if not isinstance(message, dict) or message.get("type") != "text":
                    continue
                body = (message.get("text") or {}).get("body")
                sender = message.get("from")
                if isinstance(body, str) and body.strip() and isinstance(sender, str):
                    found.append({"from": sender, "text": body, "id": str(message.get("id") or "")})
    return found


@router.get("/whatsapp", response_class=PlainTextResponse, summary="WhatsApp webhook verification")
async def verify(
    core: Core,
    mode: str = Query(alias="hub.mode"),
    token: str = Query(alias="hub.verify_token"),
    challenge: str = Query(alias="hub.challenge", max_length=200),
) -> PlainTextResponse:
    expected = _secret(core.settings.assistant.whatsapp_verify_token)
    if mode != "subscribe" or not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("Verification token does not match")
    return PlainTextResponse(challenge)


@router.post(
    "/whatsapp", response_model=WhatsAppAck, summary="WhatsApp webhook endpoint for incoming messages"
)
async def receive(request: Request, core: Core, session: DbSession) -> WhatsAppAck:
    raw = await request.body()
    verify_hub_signature(
        _secret(core.settings.assistant.whatsapp_app_secret), raw, request.headers.get("x-hub-signature-256")
    )
    try:
        payload = json.loads(raw)
    except ValueError:
        raise BadRequest("Body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("Body must be a JSON object")
    accepted = 0
    for message in text_messages(payload):
        if message["id"]:
            seen = await session.scalar(
                select(Job.id).where(Job.type == REPLY_JOB, Job.subject_id == message["id"]).limit(1)
            )
            if seen is not None:
                continue
        await core.jobs.submit(session, REPLY_JOB, message, subject_id=message["id"] or None)
        accepted += 1
    return WhatsAppAck(status="received", messages=accepted)


async def reply(ctx: JobContext) -> dict[str, Any]:
    core: CoreServices = ctx.resources["core"]
    settings = core.settings.assistant
    service = llm_service(core)
    sender, text = ctx.payload["from"], ctx.payload["text"]
    await ctx.log(f"answering a WhatsApp message from {sender[-4:].rjust(len(sender), '*')}")
    turn = await service.chat(
        f"whatsapp:{sender}", text, conversation_id=f"whatsapp-{sender}", params=service.params(None, None)
    )
    token = _secret(settings.whatsapp_access_token)
    if not token or not settings.whatsapp_phone_number_id:
        await ctx.log("WhatsApp sending is not configured; the answer is stored only", level="warning")
        return {"sent": False, "conversation_id": turn.conversation_id}
    client = WhatsAppClient(settings.whatsapp_api_url, settings.whatsapp_phone_number_id, token)
    sent_id = await client.send_text(sender, turn.content or "…")
    await ctx.log("WhatsApp reply sent")
    return {"sent": True, "message_id": sent_id, "conversation_id": turn.conversation_id}


def register(registry: JobRegistry) -> None:
    # the reply is only sent after the answer exists, so a retry never sends twice what failed before sending
    registry.register(JobSpec(REPLY_JOB, reply, max_attempts=3, timeout_seconds=300, on_interrupt="requeue"))
