"""Settings: `pentad.toml` plus `PENTAD_*` environment variables, grouped by concern.

Precedence (highest first): arguments passed to `Settings(...)` (tests build their own), environment
variables (`PENTAD_DATABASE__URL=...`, `__` separates groups), the TOML file, embedded defaults.
The embedded defaults run everything on one machine: SQLite under `./data`, in-memory rate limits and
pub/sub, the bundled local model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pentad.engines.goldrush.settings import GoldrushSettings
from pentad.engines.llm.settings import LLMSettings
from pentad.engines.sandbox.settings import SandboxSettings

CONFIG_ENV_VAR = "PENTAD_CONFIG"
DEFAULT_CONFIG_FILE = Path("pentad.toml")
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "xxx", "your-secret"}


class SettingsGroup(BaseModel):
    """A group of settings; unknown keys are errors, so a typo in pentad.toml never passes silently."""

    model_config = ConfigDict(extra="forbid")


class ServerSettings(SettingsGroup):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("data")
    public_url: str | None = (
        None  # base for URLs handed to clients (ws_url); derived from the request if unset
    )
    # on SIGTERM, open streams (SSE, WebSockets) get this long to finish before they are closed
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=3600)


class DatabaseSettings(SettingsGroup):
    url: str | None = None  # None: SQLite file under server.data_dir
    echo: bool = False
    pool_size: int = Field(default=10, ge=1)
    schema_name: str | None = Field(
        default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$"
    )  # PostgreSQL search_path
    migrate_on_start: bool = True

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://", "postgresql://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        if value.startswith("postgresql://"):
            return "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        return value


class RedisSettings(SettingsGroup):
    url: str | None = None  # set to use Redis for rate limits, pub/sub and window state
    key_prefix: str = Field(
        default="pentad", pattern=r"^[A-Za-z0-9_.:-]{1,64}$"
    )  # several deployments, one Redis

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class SecuritySettings(SettingsGroup):
    jwt_secret: SecretStr | None = None  # None: generated once and kept in data_dir/jwt.secret
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "pentad"
    access_token_ttl_seconds: int = Field(default=3600, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    # spec 001: `[security.api_key_users]` maps a static API key to a user id
    api_key_users: dict[str, str] = Field(default_factory=dict)
    admin_email: str = "admin@pentad.local"
    admin_username: str = "admin"
    admin_password: SecretStr | None = None  # None: a generated password is printed once on first start
    # resolved credentials are reused this long; revocations on other nodes take effect within it
    auth_cache_seconds: float = Field(default=2.0, ge=0, le=60)

    @field_validator("api_key_users")
    @classmethod
    def _keys_look_like_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if len(key) < 8:
                raise ValueError("API keys must be at least 8 characters long")
        return value


class RateLimitSettings(SettingsGroup):
    """Limits use the `limits` notation ("100/minute"); several separated by ';' all apply."""

    enabled: bool = True
    storage: Literal["memory", "redis"] = "memory"
    vsm: str = "1000/hour;100/minute"  # spec 000: 1000/hour per key, burst 100/minute
    assistant: str = "60/minute"  # spec 001: rate_limit_rpm per IP
    crm: str = "1000/hour"  # spec 002: starter tier
    gateway: str = "100/minute;20/second"  # spec 003: 100/minute per key, burst 20
    builds: str = "60/minute"  # spec 004: global per user
    build_create: str = "10/minute"
    analysis_create: str = "5/minute"


class SurfaceSettings(SettingsGroup):
    vsm: bool = True  # spec 000
    assistant: bool = True  # spec 001
    crm: bool = True  # spec 002
    gateway: bool = True  # spec 003
    builds: bool = True  # spec 004


class IdempotencySettings(SettingsGroup):
    ttl_seconds: int = Field(default=24 * 3600, ge=60)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)


class JobsSettings(SettingsGroup):
    runner: Literal["inprocess", "celery"] = "inprocess"
    concurrency: int = Field(default=4, ge=1, le=256)  # in-process runner: jobs running at once
    poll_seconds: float = Field(default=1.0, gt=0)
    heartbeat_seconds: float = Field(default=2.0, gt=0)  # a running job silent 3x this long is recovered
    broker_url: str | None = None  # Celery broker (redis:// or amqp://); default: redis.url
    celery_queue: str = Field(default="pentad", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    # modules with a `register(registry)` function adding job types (plugins; loaded by API and workers)
    extra_modules: list[str] = Field(default_factory=list)


class BusSettings(SettingsGroup):
    backend: Literal["memory", "redis"] = "memory"
    subscriber_queue: int = Field(
        default=1000, ge=1
    )  # messages a slow subscriber may lag before it is dropped
    metrics_interval_seconds: float = Field(default=5.0, gt=0)  # `system.metric` publishing period


class WebhookSettings(SettingsGroup):
    max_attempts: int = Field(default=8, ge=1, le=50)
    backoff_seconds: float = Field(default=1.0, gt=0)  # attempt n waits backoff * 2**(n-1), capped below
    max_backoff_seconds: float = Field(default=300.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    # hosts allowed to resolve to loopback/private addresses (internal receivers); all else must be public
    allowed_hosts: list[str] = Field(default_factory=list)


class GatewaySettings(SettingsGroup):
    """spec 003's integrations (its GITHUB_* / SLACK_* / LOKI_URL environment variables map here)."""

    github_webhook_secret: SecretStr | None = None
    github_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    loki_url: str | None = None  # push log records to Grafana Loki as well


class AssistantSettings(SettingsGroup):
    """spec 001's personal data sources. Weather needs the network (Open-Meteo); calendar and mail work
    offline from a local ICS file and Maildir, or online from an ICS URL and an IMAP server."""

    location: str = "Berlin"  # default place for `weather` and the briefing
    timezone: str = "UTC"
    weather_url: str = "https://api.open-meteo.com"
    geocoding_url: str = "https://geocoding-api.open-meteo.com"
    calendar_ics: str | None = None  # a file path or an http(s) URL
    maildir: Path | None = None
    imap_host: str | None = None
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_ssl: bool = True
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_mailbox: str = "INBOX"
    important_senders: list[str] = Field(default_factory=list)  # mail from these counts as important
    # WhatsApp Cloud API: the webhook's verify token and app secret, and where replies are sent
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_access_token: SecretStr | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    whatsapp_phone_number_id: str | None = None


class VsmSettings(SettingsGroup):
    policy_version: str = Field(
        default="1.0.0", max_length=32
    )  # S5's current policy, as `/api/vsm/status` reports


class BuildsSettings(SettingsGroup):
    """spec 004: where projects live, which model writes code, how tests run (docs/surfaces/builds.md)."""

    projects_dir: Path | None = None  # None: <server.data_dir>/projects
    model: str | None = None  # None: llm.default_model; any configured id (an OpenAI-compatible coder)
    max_files: int = Field(default=6, ge=1, le=50)
    max_tokens_per_file: int = Field(default=384, ge=16, le=8192)
    planning_max_tokens: int = Field(default=96, ge=16, le=2048)
    temperature: float = Field(default=0.2, ge=0, le=2)
    test_timeout_s: float = Field(default=120, gt=0, le=3600)
    vm_memory_mb: int = Field(default=512, ge=64, le=65536)
    vm_python: str = "/usr/bin/python3"  # inside the VM; needs pytest and coverage (Debian packages)
    analysis_wait_s: float = Field(default=30, ge=0, le=600)  # POST /api/analysis/ waits this long
    clone_timeout_s: float = Field(default=120, gt=0, le=3600)


class LoggingSettings(SettingsGroup):
    level: Literal["debug", "info", "warning", "error"] = "info"
    json_output: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PENTAD_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    surfaces: SurfaceSettings = Field(default_factory=SurfaceSettings)
    idempotency: IdempotencySettings = Field(default_factory=IdempotencySettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    vsm: VsmSettings = Field(default_factory=VsmSettings)
    assistant: AssistantSettings = Field(default_factory=AssistantSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    goldrush: GoldrushSettings = Field(default_factory=GoldrushSettings)
    builds: BuildsSettings = Field(default_factory=BuildsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.server.environment == "production":
            secret = self.security.jwt_secret
            if secret is None or secret.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("security.jwt_secret must be set to a real secret in production")
            if len(secret.get_secret_value()) < 32:
                raise ValueError("security.jwt_secret must be at least 32 characters in production")
        if self.rate_limits.storage == "redis" and self.redis.url is None:
            raise ValueError("rate_limits.storage = 'redis' needs redis.url")
        if self.goldrush.window_backend == "redis" and self.redis.url is None:
            raise ValueError("goldrush.window_backend = 'redis' needs redis.url")
        if self.bus.backend == "redis" and self.redis.url is None:
            raise ValueError("bus.backend = 'redis' needs redis.url")
        if self.jobs.runner == "celery" and not (self.jobs.broker_url or self.redis.url):
            raise ValueError("jobs.runner = 'celery' needs jobs.broker_url or redis.url")
        return self

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.server.data_dir / 'pentad.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def _config_file() -> Path | None:
    explicit = os.environ.get(CONFIG_ENV_VAR)
    if explicit:
        return Path(explicit)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.exists() else None


class ConfigError(Exception):
    """A configuration problem, already phrased as one line for the operator."""


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings, turning validation errors into one readable line."""
    previous = os.environ.get(CONFIG_ENV_VAR)
    try:
        if config_file is not None:
            if not config_file.exists():
                raise ConfigError(f"configuration file {config_file} does not exist")
            os.environ[CONFIG_ENV_VAR] = str(config_file)
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except (ValueError, OSError) as exc:  # TOML syntax errors and unreadable files
        raise ConfigError(f"invalid configuration: {exc}") from None
    finally:
        if config_file is not None:
            if previous is None:
                os.environ.pop(CONFIG_ENV_VAR, None)
            else:
                os.environ[CONFIG_ENV_VAR] = previous


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(item) for item in error["loc"]) or "settings"
        parts.append(f"{location}: {error['msg']}")
    return "invalid configuration: " + "; ".join(parts)
