"""Job handlers by type, with what each declares about retries, time limits and interrupted runs."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pentad.core.jobs.context import JobContext

Handler = Callable[["JobContext"], Coroutine[Any, Any, dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    type: str
    handler: Handler
    max_attempts: int = 1
    backoff_seconds: float = 1.0  # attempt n waits backoff * 2**(n-1) before running again
    timeout_seconds: float | None = None
    # what to do with a job found running after its runner died: run it again, or fail it with a reason
    on_interrupt: Literal["requeue", "fail"] = "fail"

    def retry_delay(self, attempt: int) -> float:
        return float(self.backoff_seconds * 2 ** max(0, attempt - 1))


class JobRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, JobSpec] = {}

    def register(self, spec: JobSpec) -> None:
        if spec.type in self._specs:
            raise ValueError(f"job type {spec.type!r} is registered twice")
        self._specs[spec.type] = spec

    def get(self, job_type: str) -> JobSpec | None:
        return self._specs.get(job_type)

    def __contains__(self, job_type: str) -> bool:
        return job_type in self._specs

    @property
    def types(self) -> list[str]:
        return sorted(self._specs)
