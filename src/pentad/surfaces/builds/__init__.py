"""Spec 004, Phase 2 build/analysis API: JWT roles, build and analysis tasks, WebSocket progress."""

PREFIXES = ("/auth", "/api/build", "/api/analysis", "/api/ws/build", "/api/ws/analysis", "/api/health")
API_VERSION = "3.0.0"
