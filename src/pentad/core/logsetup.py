"""Process logging: level, plain or JSON lines on stderr, and two guards against secrets in logs.

1. Database drivers log every statement *with its parameters* at DEBUG (aiosqlite, SQLAlchemy's engine
   echo, asyncpg), and parameters carry password hashes and webhook secrets; those loggers stay at
   WARNING whatever `logging.level` says.
2. A filter on our handler replaces any configured secret value that still reaches a record with
   `[REDACTED]`, as a last line of defence.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from pydantic import BaseModel, SecretStr

SQL_PARAMETER_LOGGERS: Final = ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "asyncpg")
REDACTED: Final = "[REDACTED]"
_MIN_SECRET: Final = 6  # shorter values would redact ordinary words


def quiet_parameter_loggers() -> None:
    for name in SQL_PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, REDACTED)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def secret_values(settings: BaseModel) -> list[str]:
    """Every SecretStr value anywhere in the settings, plus static API keys (`sk-...` map keys)."""
    found: list[str] = []
    pending: list[object] = [settings]
    while pending:
        value = pending.pop()
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            pending.extend(getattr(value, name) for name in type(value).model_fields)
        elif isinstance(value, dict):
            found.extend(str(key) for key in value if str(key).startswith("sk-"))
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)
    return found


def configure(level: str, json_output: bool, secrets: Iterable[str]) -> None:
    """Set up the root logger for a server or worker process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLines() if json_output else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_parameter_loggers()
