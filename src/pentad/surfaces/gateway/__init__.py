"""Spec 003, Aetherium: VM gateway (VMs, command execution, tasks, logs, GitHub/Slack webhooks)."""

PREFIXES = ("/api/v1/vms", "/api/v1/tasks", "/api/v1/logs", "/api/v1/webhooks", "/api/v1/health")
