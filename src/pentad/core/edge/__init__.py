"""The edge: what every request passes before a route. `middleware` (request id, security headers,
timing, last-resort error envelope), `callers` (who is calling, cheaply, for keys), `ratelimit`
(`limits`, memory or Redis), `idempotency` (Idempotency-Key replay), `pagination`.
"""
