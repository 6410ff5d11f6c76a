"""Signature checks for inbound webhooks: GitHub and WhatsApp (`X-Hub-Signature-256`) and Slack
(signing secret v0 with a replay window)."""

from __future__ import annotations

import hashlib
import hmac
import time

from pentad.core.errors import Unauthorized
from pentad.core.webhooks.signing import verify

SLACK_REPLAY_WINDOW_SECONDS = 300


def verify_hub_signature(secret: str | None, body: bytes, header: str | None) -> None:
    """GitHub and Meta (WhatsApp) sign the raw body: `X-Hub-Signature-256: sha256=<hex>`."""
    if not secret:
        raise Unauthorized("Webhook secret is not configured", code="webhook_not_configured")
    if not verify(secret, body, header):
        raise Unauthorized("Invalid webhook signature", code="invalid_signature")


def verify_slack_signature(
    signing_secret: str | None,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float | None = None,
) -> None:
    if not signing_secret:
        raise Unauthorized("Slack signing secret is not configured", code="webhook_not_configured")
    try:
        sent_at = int(timestamp or "")
    except ValueError:
        raise Unauthorized("Missing or invalid X-Slack-Request-Timestamp", code="invalid_signature") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > SLACK_REPLAY_WINDOW_SECONDS:
        raise Unauthorized("Slack request is too old (replay window is 5 minutes)", code="stale_request")
    base = b"v0:" + str(sent_at).encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature.strip()):
        raise Unauthorized("Invalid Slack signature", code="invalid_signature")
