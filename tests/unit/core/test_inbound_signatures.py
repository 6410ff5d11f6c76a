"""Inbound webhook signatures: GitHub/WhatsApp hub signatures and Slack v0 with its replay window."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from pentad.core.errors import Unauthorized
from pentad.core.webhooks.inbound import verify_hub_signature, verify_slack_signature
from pentad.core.webhooks.signing import sign

BODY = b'{"action": "opened", "pull_request": {"number": 123, "title": "Fix bug"}}'


def test_hub_signature_accepts_only_the_right_secret() -> None:
    verify_hub_signature("gh-secret", BODY, sign("gh-secret", BODY))
    for header in (None, "", "sha256=00", sign("other", BODY), sign("gh-secret", BODY + b" ")):
        with pytest.raises(Unauthorized):
            verify_hub_signature("gh-secret", BODY, header)
    with pytest.raises(Unauthorized, match="not configured"):
        verify_hub_signature(None, BODY, sign("x", BODY))


def _slack(secret: str, timestamp: int, body: bytes) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def test_slack_signature_and_replay_window() -> None:
    body = b"command=%2Faetherium-status&user_id=U123456&channel_id=C123456"
    now = int(time.time())
    verify_slack_signature("slack-secret", body, str(now), _slack("slack-secret", now, body))
    old = now - 301
    with pytest.raises(Unauthorized, match="too old"):
        verify_slack_signature("slack-secret", body, str(old), _slack("slack-secret", old, body))
    with pytest.raises(Unauthorized):
        verify_slack_signature("slack-secret", body, str(now), _slack("wrong", now, body))
    with pytest.raises(Unauthorized):
        verify_slack_signature("slack-secret", body, "not-a-number", _slack("slack-secret", now, body))
