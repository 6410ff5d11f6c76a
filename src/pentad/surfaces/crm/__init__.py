"""Spec 002, VectorOS: multi-tenant sales CRM (users, workspaces, deals, integrations, insights)."""

PREFIXES = ("/api/v1", "/ws")
API_VERSION = "0.1.0"
