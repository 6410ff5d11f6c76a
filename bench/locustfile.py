"""Mixed traffic for `bench/load_mixed.py` (run by it, not directly): GoldRush event submits, short chats
on the local model, CRM deal lists, task polls, and WebSocket subscribers of spec 000's socket.

The driver passes what the users need through the environment: PENTAD_LOAD_TOKEN (an admin JWT),
PENTAD_LOAD_WORKSPACE, PENTAD_LOAD_TASK.
"""

from __future__ import annotations

import json
import os
import random
import time

import websocket
from locust import HttpUser, User, between, events, task

TOKEN = os.environ.get("PENTAD_LOAD_TOKEN", "")
WORKSPACE = os.environ.get("PENTAD_LOAD_WORKSPACE", "")
TASK = os.environ.get("PENTAD_LOAD_TASK", "")
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


class ApiUser(HttpUser):
    wait_time = between(0.05, 0.2)

    @task(10)
    def submit_event(self) -> None:
        kind = random.choice(["metric", "login.failed", "error", "deploy"])
        body = {"type": kind, "data": {"type": "cpu", "value": random.randrange(100), "user_id": "u1"}}
        self.client.post("/api/goldrush/events", json=body, headers=HEADERS, name="POST /api/goldrush/events")

    @task(6)
    def list_deals(self) -> None:
        self.client.get(
            f"/api/v1/workspaces/{WORKSPACE}/deals?limit=20&stage=qualified",
            headers=HEADERS,
            name="GET /api/v1/workspaces/{id}/deals",
        )

    @task(6)
    def poll_task(self) -> None:
        self.client.get(f"/api/v1/tasks/{TASK}", headers=HEADERS, name="GET /api/v1/tasks/{id}")

    @task(1)
    def short_chat(self) -> None:
        self.client.post(
            "/v1/chat", json={"message": "Hi", "max_tokens": 4}, headers=HEADERS, name="POST /v1/chat"
        )


class Subscriber(User):
    """Holds spec 000's WebSocket open and counts what arrives; each message is one 'request'."""

    wait_time = between(0, 0)
    weight = 1

    def on_start(self) -> None:
        import requests

        created = requests.post(
            f"{self.host}/api/ws/subscribe",
            json={"channels": ["goldrush.matches", "vsm.alerts"]},
            headers=HEADERS,
            timeout=10,
        ).json()
        self.ws = websocket.create_connection(created["ws_url"], timeout=5)
        self.ws.recv()  # connected
        self.ws.send(json.dumps({"type": "authenticate", "subscription_id": created["subscription_id"]}))
        self.ws.recv()  # authenticated

    @task
    def receive(self) -> None:
        started = time.perf_counter()
        try:
            message = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return
        except Exception as error:  # a dropped socket is an error of the run
            events.request.fire(
                request_type="WS", name="socket message", response_time=0, response_length=0, exception=error
            )
            self.on_start()
            return
        events.request.fire(
            request_type="WS",
            name="socket message",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(message),
            exception=None,
        )

    def on_stop(self) -> None:
        self.ws.close()
