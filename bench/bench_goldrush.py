"""GoldRush matching: the index against a naive scan of every compiled pattern, and against the
`rule-engine` package (a general-purpose rule language, interpreted), on the same patterns and events;
then events/s through `POST /api/goldrush/events` end to end (SQLite, matching, storing, actions).

    .venv/bin/python bench/bench_goldrush.py [--patterns 1000] [--events 20000] [--http-events 2000]
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


def pattern_texts(count: int) -> list[tuple[str, str]]:
    """(GoldRush text, rule-engine text) pairs: mostly typed patterns, one in ten without a type test."""
    pairs = []
    for i in range(count):
        kind, threshold = f"type{i % TYPES}", i % 100
        if i % 10 == 9:
            pairs.append(
                (
                    f"data.level == 'critical' || data.value > {900 + threshold}",
                    f"data['level'] == 'critical' or data['value'] > {900 + threshold}",
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


def timed(label: str, events_count: int, function: Any, *args: Any) -> tuple[int, float]:
    started = time.perf_counter()
    matches = function(*args)
    elapsed = time.perf_counter() - started
    print(f"{label:<34} {events_count / elapsed:>12,.0f} events/s   {matches:>8} matches")
    return matches, elapsed


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
    parser.add_argument("--patterns", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--http-events", type=int, default=2000)
    args = parser.parse_args()

    pairs = pattern_texts(args.patterns)
    compiled = [compile_pattern(f"p{i}", f"p{i}", text, ()) for i, (text, _) in enumerate(pairs)]
    index = PatternIndex(compiled)
    rules = [rule_engine.Rule(text) for _, text in pairs]
    stream = events(args.events)
    print(f"{args.patterns} patterns ({index.unindexed} not indexable), {args.events} events")
    indexed, indexed_time = timed("GoldRush, indexed", args.events, run_index, index, stream)
    naive, naive_time = timed("GoldRush, every pattern (naive)", args.events, run_naive, compiled, stream)
    sample = stream[: max(1, args.events // 20)]  # rule-engine is slow: a twentieth of the stream
    expected = run_naive(compiled, sample)
    engine_matches, engine_time = timed(
        "rule-engine package, every rule", len(sample), run_rule_engine, rules, sample
    )
    assert indexed == naive, "the index lost or invented matches"
    assert engine_matches == expected, "rule-engine disagrees with GoldRush on the same rules"
    print(f"index speed-up over the naive scan: {naive_time / indexed_time:.1f}x")
    print(
        "index speed-up over rule-engine: "
        f"{(engine_time / len(sample)) / (indexed_time / args.events):.0f}x (per event)"
    )
    asyncio.run(http_rate(args.http_events, min(args.patterns, 200)))


if __name__ == "__main__":
    main()
