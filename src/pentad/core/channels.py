"""Bus channel names, in one place. Surfaces relay these; nobody spells a channel as a string literal."""

from __future__ import annotations

import uuid

VSM_ALERTS = "vsm.alerts"
SYSTEM_METRICS = "system.metrics"
AGENT_EVENTS = "agent.events"
GOLDRUSH_MATCHES = "goldrush.matches"
LOGS = "logs"
JOBS = "jobs"  # every job's status changes, for dashboards and the VSM's S2 view


def job(job_id: uuid.UUID | str) -> str:
    return f"job.{job_id}"


def job_control(job_id: uuid.UUID | str) -> str:
    """Cancel requests travel here, so a worker on another node stops promptly."""
    return f"jobcontrol.{job_id}"


def workspace(workspace_id: uuid.UUID | str) -> str:
    return f"workspace.{workspace_id}"


def user(user_id: uuid.UUID | str) -> str:
    return f"user.{user_id}"
