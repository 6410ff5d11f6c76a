"""The kernel: identity, edge, errors, storage, jobs, bus, webhooks, telemetry.

It imports no engine and no surface.
"""
