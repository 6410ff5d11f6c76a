"""The job state machine. Every status change goes through `check_transition`."""

from __future__ import annotations

from typing import Final, Literal

from pentad.core.errors import Conflict

JobStatus = Literal["pending", "running", "completed", "failed", "cancelled"]

PENDING: Final = "pending"
RUNNING: Final = "running"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"

TERMINAL: Final = frozenset({COMPLETED, FAILED, CANCELLED})

# running -> pending is a retry after a failure, or a requeue after the runner died
ALLOWED: Final[dict[str, frozenset[str]]] = {
    PENDING: frozenset({RUNNING, CANCELLED, FAILED}),
    RUNNING: frozenset({COMPLETED, FAILED, CANCELLED, PENDING}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}


class IllegalTransition(Conflict):
    code = "illegal_transition"


def check_transition(current: str, target: str) -> None:
    if target not in ALLOWED.get(current, frozenset()):
        raise IllegalTransition(
            f"A job that is {current} cannot become {target}",
            details={"status": current, "requested": target},
        )
