"""GoldRush matching at 10, 100 and 1,000 patterns: the index against a naive scan of every compiled
pattern, and against the `rule-engine` package (a general-purpose rule language, interpreted), on the
same patterns and events, all typed and with a tenth untyped; then events/s through
`POST /api/goldrush/events` end to end (SQLite, matching, storing, actions).

    .venv/bin/python bench/bench_goldrush.py [--events 20000] [--http-events 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from typing import Any

import httpx
import rule_engine

from pentad.app import create_app
from pentad.config import Settings
from pentad.engines.goldrush.compiler import CompiledPattern, compile_pattern
from pentad.engines.goldrush.index import PatternIndex

TYPES = 200


def pattern_texts(count: int, untyped_share: float = 0.0) -> list[tuple[str, str]]:
    """(GoldRush text, rule-engine text) pairs of the shape alert rules take: an event type, a threshold
    and an exclusion; `untyped_share` of them name no type (every event must meet those)."""
    pairs = []
    untyped_every = round(1 / untyped_share) if untyped_share else 0
    for i in range(count):
        kind, threshold = f"type{i % TYPES}", i % 100
        if untyped_every and i % untyped_every == untyped_every - 1:
            pairs.append(
                (
                    f"data.level == 'critical' && data.value > {900 + threshold}",
                    f"data['level'] == 'critical' and data['value'] > {900 + threshold}",
                )
            )
        else:
            pairs.append(
                (
                    f"event.type == '{kind}' && data.value > {threshold} && data.host != 'h{i % 7}'",
                    f"type == '{kind}' and data['value'] > {threshold} and data['host'] != 'h{i % 7}'",
                )
            )
    return pairs


def events(count: int, seed: int = 1) -> list[dict[str, Any]]:
    generator = random.Random(seed)
    return [
        {
            "type": f"type{generator.randrange(TYPES * 2)}",  # half the types match no pattern
            "data": {
                "value": generator.randrange(1000),
                "host": f"h{generator.randrange(7)}",
                "level": generator.choice(["info", "warning", "error", "critical"]),
            },
            "metadata": {},
        }
        for _ in range(count)
    ]


def run_index(index: PatternIndex, stream: list[dict[str, Any]]) -> int:
    return sum(1 for event in stream for pattern in index.candidates(event) if pattern.condition(event))


def run_naive(patterns: list[CompiledPattern], stream: list[dict[str, Any]]) -> int:
    return sum(1 for event in stream for pattern in patterns if pattern.condition(event))


def run_rule_engine(rules: list[rule_engine.Rule], stream: list[dict[str, Any]]) -> int:
    return sum(1 for event in stream for rule in rules if rule.matches(event))


def rate(function: Any, *args: Any) -> tuple[int, float]:
    """(matches, events/s) of the best of three runs."""
    best, matches = float("inf"), 0
    for _ in range(3):
        started = time.perf_counter()
        matches = function(*args)
        best = min(best, time.perf_counter() - started)
    return matches, len(args[-1]) / best


def scenario(count: int, stream: list[dict[str, Any]], untyped_share: float) -> tuple[float, float, float]:
    pairs = pattern_texts(count, untyped_share)
    compiled = [compile_pattern(f"p{i}", f"p{i}", text, ()) for i, (text, _) in enumerate(pairs)]
    index = PatternIndex(compiled)
    rules = [rule_engine.Rule(text) for _, text in pairs]
    indexed, indexed_rate = rate(run_index, index, stream)
    naive, naive_rate = rate(run_naive, compiled, stream)
    sample = stream[: max(50, len(stream) // max(1, count // 10))]  # rule-engine is slow: fewer events
    engine_matches, engine_rate = rate(run_rule_engine, rules, sample)
    assert indexed == naive, "the index lost or invented matches"
    assert engine_matches == run_naive(compiled, sample), "rule-engine disagrees with GoldRush"
    return indexed_rate, naive_rate, engine_rate


async def http_rate(count: int, patterns: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            server={"data_dir": data_dir, "environment": "test"},
            security={"jwt_secret": "bench-" + "x" * 40, "admin_password": "bench-password-123"},
            rate_limits={"enabled": False},
        )
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
        ):
            token = (
                await client.post("/auth/login", json={"username": "admin", "password": "bench-password-123"})
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            for i, (text, _) in enumerate(pattern_texts(patterns)):
                await client.post(
                    "/api/goldrush/patterns",
                    headers=headers,
                    json={"name": f"p{i}", "pattern": text, "actions": []},
                )
            stream = events(count, seed=2)
            latencies = []
            started = time.perf_counter()
            for event in stream:
                sent = time.perf_counter()
                response = await client.post("/api/goldrush/events", headers=headers, json=event)
                latencies.append((time.perf_counter() - sent) * 1000)
                assert response.status_code == 200, response.text
            elapsed = time.perf_counter() - started
        latencies.sort()
        print(
            f"HTTP POST /api/goldrush/events ({patterns} patterns, SQLite): {count / elapsed:,.0f} events/s, "
            f"p50 {statistics.median(latencies):.2f} ms, p99 {latencies[int(len(latencies) * 0.99)]:.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--http-events", type=int, default=2000)
    args = parser.parse_args()
    stream = events(args.events)
    print(f"{args.events} events over {TYPES * 2} types, one core, best of 3 runs (events/s)")
    print(f"{'patterns':>9} {'untyped':>8} {'indexed':>10} {'naive':>10} {'rule-engine':>12} {'vs naive':>9}")
    for untyped in (0.0, 0.1):
        for count in (10, 100, 1000):
            indexed, naive, engine = scenario(count, stream, untyped)
            print(
                f"{count:>9} {untyped:>8.0%} {indexed:>10,.0f} {naive:>10,.0f} {engine:>12,.0f} "
                f"{indexed / naive:>8.1f}x"
            )
    asyncio.run(http_rate(args.http_events, 200))


if __name__ == "__main__":
    main()
