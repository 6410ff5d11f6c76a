"""A bounded schemathesis run against a live server: every operation of every enabled surface, fixed
seed, authenticated with an API key; no response may be a server error, and every response must be
one the document declares (status code, content type, body schema)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_server_and_cli import PENTAD, Server, _env

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~100 operations x 10 examples; chat ones run the model
def test_every_operation_answers_as_documented_never_with_a_server_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    extra = {
        "PENTAD_SECURITY__ADMIN_PASSWORD": "fuzz-admin-password",
        "PENTAD_RATE_LIMITS__ENABLED": "false",
        # every chat operation really generates: keep answers short so the run stays bounded
        "PENTAD_LLM__DEFAULT_MAX_TOKENS": "4",
        "PENTAD_LLM__MAX_TOKENS_LIMIT": "4",
        "PENTAD_BUILDS__MAX_TOKENS_PER_FILE": "16",
        "PENTAD_BUILDS__PLANNING_MAX_TOKENS": "16",
        "PENTAD_BUILDS__ANALYSIS_WAIT_S": "0",
        "PENTAD_BUILDS__MAX_FILES": "1",
    }
    created = subprocess.run(
        [*PENTAD, "apikey", "create", "--user", "admin", "--name", "fuzz"],
        env=_env(data_dir, **extra),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key = created.stdout.strip()
    server = Server(data_dir, **extra)
    try:
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{server.url}/api-docs/openapi.json",
                "-H",
                f"X-API-Key: {key}",
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,"
                "response_schema_conformance",
                "--max-examples",
                "10",
                "--seed",
                "1",
                # chats queue behind the fuzzed builds for the one local model: slow is not an error here
                "--request-timeout",
                "120",
            ],
            capture_output=True,
            text=True,
            timeout=840,
            check=False,
        )
    finally:
        log = server.stop()
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Traceback" not in log
