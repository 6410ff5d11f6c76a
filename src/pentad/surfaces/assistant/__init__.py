"""Spec 001, PiSovereign: local AI assistant (chat, SSE, commands, system, WhatsApp webhook)."""

PREFIXES = ("/v1",)
