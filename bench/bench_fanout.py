"""WebSocket fan-out: messages/s delivered to 100 subscribers of a live `pentad serve`.

The server runs as its own process with the Redis bus; this script opens 100 WebSocket clients on
spec 002's `/ws`, publishes N messages through Redis (as another node would), and measures how long
until every client has every message. For scale, the same fan-out through the in-memory bus to 100
in-process subscribers (no sockets) is measured in the same run.

    .venv/bin/python bench/bench_fanout.py [--clients 100] [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets
from redis.asyncio import Redis

from pentad.core import channels
from pentad.core.bus import MemoryBus, RedisBus

REDIS_URL = os.environ.get("PENTAD_BENCH_REDIS", "redis://127.0.0.1:6379/0")
PASSWORD = "bench-admin-password"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def memory_fanout(clients: int, messages: int) -> float:
    bus = MemoryBus()
    subscriptions = [bus.subscribe(["fan"], maxsize=messages + 10) for _ in range(clients)]
    started = time.perf_counter()
    for n in range(messages):
        await bus.publish("fan", "tick", {"n": n})
    for subscription in subscriptions:
        for _ in range(messages):
            await subscription.get()
    return clients * messages / (time.perf_counter() - started)


async def websocket_fanout(clients: int, messages: int) -> float:
    data_dir = Path(tempfile.mkdtemp(prefix="pentad-fanout-"))
    prefix = f"bench-{secrets.token_hex(4)}"
    port = free_port()
    env = {
        **os.environ,
        "PENTAD_SERVER__DATA_DIR": str(data_dir),
        "PENTAD_SECURITY__ADMIN_PASSWORD": PASSWORD,
        "PENTAD_REDIS__URL": REDIS_URL,
        "PENTAD_REDIS__KEY_PREFIX": prefix,
        "PENTAD_BUS__BACKEND": "redis",
        "PENTAD_BUS__SUBSCRIBER_QUEUE": str(messages * 2),
        "PENTAD_RATE_LIMITS__CRM": "1000000/hour",
        "PENTAD_LOGGING__LEVEL": "warning",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "pentad.cli", "serve", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    redis = Redis.from_url(REDIS_URL)
    publisher = RedisBus(redis, prefix)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.2)
        login = httpx.post(base + "/auth/login", json={"username": "admin", "password": PASSWORD}, timeout=10)
        token = login.json()["access_token"]
        sockets = [
            await websockets.connect(f"ws://127.0.0.1:{port}/ws?token={token}") for _ in range(clients)
        ]
        hello = [await ws.recv() for ws in sockets]
        import json

        user_id = json.loads(hello[0])["data"]["user_id"]
        await asyncio.sleep(0.5)

        async def drain(ws: websockets.ClientConnection) -> None:
            received = 0
            while received < messages:
                message = json.loads(await ws.recv())
                if message.get("event") == "tick":
                    received += 1

        started = time.perf_counter()
        readers = [asyncio.create_task(drain(ws)) for ws in sockets]
        for n in range(messages):
            await publisher.publish(channels.user(user_id), "tick", {"n": n})
        await asyncio.wait_for(asyncio.gather(*readers), timeout=300)
        elapsed = time.perf_counter() - started
        for ws in sockets:
            await ws.close()
        return clients * messages / elapsed
    finally:
        await redis.aclose()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    memory = await memory_fanout(args.clients, args.messages)
    sockets = await websocket_fanout(args.clients, args.messages)
    print(f"fan-out of {args.messages} messages to {args.clients} subscribers, {os.cpu_count()} cores")
    print(f"  in-memory bus, in-process subscribers:        {memory:12,.0f} deliveries/s")
    print(f"  Redis bus -> live server -> WebSocket clients: {sockets:12,.0f} deliveries/s")
    print(f"  WebSocket delivery / in-memory: {sockets / memory:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
