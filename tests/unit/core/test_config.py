"""Configuration: TOML file, PENTAD_* environment, precedence, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pentad.config import ConfigError, load_settings

PENTAD = [sys.executable, "-m", "pentad.cli"]


def test_toml_file_and_spec001_api_key_map(tmp_path: Path) -> None:
    config = tmp_path / "pentad.toml"
    config.write_text(
        """
[server]
port = 3000

[surfaces]
crm = false

[security.api_key_users]
"sk-abc123def456" = "550e8400-e29b-41d4-a716-446655440000"
"""
    )
    settings = load_settings(config)
    assert settings.server.port == 3000
    assert settings.surfaces.crm is False
    assert settings.security.api_key_users == {"sk-abc123def456": "550e8400-e29b-41d4-a716-446655440000"}


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "pentad.toml"
    config.write_text("[server]\nport = 3000\n")
    monkeypatch.setenv("PENTAD_SERVER__PORT", "4000")
    monkeypatch.setenv("PENTAD_RATE_LIMITS__ASSISTANT", "5/minute")
    settings = load_settings(config)
    assert settings.server.port == 4000
    assert settings.rate_limits.assistant == "5/minute"


def test_defaults_are_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("data/pentad.db")
    assert settings.rate_limits.storage == "memory"
    assert settings.redis.url is None


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ("[server]\nport = 99999\n", "server.port"),
        ('[database]\nurl = "mysql://x"\n', "database.url"),
        ("[server]\nunknown_option = 1\n", "server.unknown_option"),
        ('[rate_limits]\nstorage = "redis"\n', "needs redis.url"),
        ("[server\nport = 1\n", "invalid configuration"),
    ],
)
def test_bad_values_give_one_line(tmp_path: Path, toml: str, fragment: str) -> None:
    config = tmp_path / "pentad.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_production_refuses_placeholder_secret(tmp_path: Path) -> None:
    config = tmp_path / "pentad.toml"
    config.write_text('[server]\nenvironment = "production"\n[security]\njwt_secret = "change-me"\n')
    with pytest.raises(ConfigError, match="jwt_secret"):
        load_settings(config)


def test_serve_with_bad_config_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "pentad.toml"
    config.write_text("[server]\nport = -1\n")
    env = {**os.environ, "PENTAD_CONFIG": str(config)}
    result = subprocess.run(
        [*PENTAD, "serve"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pentad: invalid configuration: server.port")
    assert "Traceback" not in result.stderr


def test_example_config_is_valid() -> None:
    settings = load_settings(Path(__file__).resolve().parents[3] / "pentad.example.toml")
    assert settings.server.port == 8000
    assert settings.rate_limits.vsm == "1000/hour;100/minute"
