"""Spec 000, VSM Phoenix: GoldRush patterns, LLM, auth, WebSocket subscriptions, VSM S1-S5, webhooks."""

PREFIXES = ("/api/goldrush", "/api/llm", "/api/auth", "/api/ws", "/socket", "/api/vsm", "/api/webhooks")
