"""Durable jobs: every long operation in the five documents runs as one.

Map: `models` (jobs and job_logs tables), `states` (the state machine), `registry` (handlers by type and
their retry/recovery declarations), `context` (what a handler gets: progress, logs, cancellation),
`service` (submit, read, cancel; used by surfaces inside their request transaction), `executor` (runs
one job, the same code for every runner), `inprocess` (asyncio runner, the default) and `celery_runner`
(scale-out workers started with `pentad worker`).
"""
