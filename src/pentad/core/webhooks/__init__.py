"""Webhooks. Outbound: subscriptions, HMAC-SHA256 signing, deliveries written in the emitting transaction
and sent in order per subscription with exponential backoff, a delivery log (`models`, `signing`,
`service`, `dispatcher`, `urls` for SSRF checks). Inbound: signature checks for GitHub, Slack and
WhatsApp (`inbound`).
"""
