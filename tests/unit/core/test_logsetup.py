"""Process logging: secrets redacted from every record, JSON lines, SQL-parameter loggers kept quiet."""

from __future__ import annotations

import io
import json
import logging

from pentad.config import Settings
from pentad.core import logsetup


def test_secret_values_finds_every_secret_in_the_settings() -> None:
    settings = Settings(
        security={
            "jwt_secret": "j" * 40,
            "api_key_users": {"sk-static-key-1": "550e8400-e29b-41d4-a716-446655440000"},
        },
        gateway={"github_webhook_secret": "gh-secret-123"},
        assistant={"whatsapp_app_secret": "wa-secret-123"},
    )
    found = set(logsetup.secret_values(settings))
    assert {"j" * 40, "sk-static-key-1", "gh-secret-123", "wa-secret-123"} <= found


def test_configure_redacts_and_writes_json_lines() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logsetup.configure("debug", True, ["hunter2-secret", "abc"])
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        logging.getLogger("pentad.test").info("login with %s failed", "hunter2-secret")
        logging.getLogger("aiosqlite").debug("executing INSERT ... ('hunter2-secret',)")
        logging.getLogger("pentad.test").warning("abc stays: too short to be a secret")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        "login with [REDACTED] failed",
        "abc stays: too short to be a secret",
    ]
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "pentad.test"
    assert lines[0]["timestamp"].endswith("Z")
    assert logging.getLogger("sqlalchemy.engine").level == logging.WARNING
