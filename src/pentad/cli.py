"""`pentad serve | migrate | openapi | user | apikey` (typer + rich)."""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from pentad import __version__
from pentad.config import ConfigError, Settings, load_settings
from pentad.core import logsetup

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from pentad.core.context import CoreServices

app = typer.Typer(help="Pentad: five API documents on one self-hosted service.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
apikey_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # one error, one line, whatever the terminal width
T = TypeVar("T")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML file (default: $PENTAD_CONFIG or ./pentad.toml)")
]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        errors.print(f"pentad: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def _run(settings: Settings, work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    from pentad.core.errors import ApiError

    try:
        return asyncio.run(work(settings))
    except ApiError as exc:
        errors.print(f"pentad: {exc.message}", markup=False, highlight=False)
        for field in exc.details.get("fields", []):
            errors.print(f"  {field['field']}: {field['error']}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    except OSError as exc:
        errors.print(f"pentad: cannot reach a dependency: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None


def _transact(config: Path | None, work: Callable[[CoreServices, AsyncSession], Coroutine[Any, Any, T]]) -> T:
    """Run one unit of work in a transaction on a migrated database."""
    from pentad.app import build_core
    from pentad.core.identity.bootstrap import announce_generated_password, ensure_admin
    from pentad.migrations import upgrade

    async def run(settings: Settings) -> T:
        core = build_core(settings)
        try:
            await upgrade(core.db)
            async with core.db.transaction() as session:
                # a fresh database gets its first admin here too, exactly as on `pentad serve`
                generated = await ensure_admin(session, core.identity, settings)
            if generated:
                announce_generated_password(settings.security.admin_email, generated)
            async with core.db.transaction() as session:
                return await work(core, session)
        finally:
            await core.db.dispose()

    return _run(_settings(config), run)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Override server.host")] = None,
    port: Annotated[int | None, typer.Option(help="Override server.port")] = None,
) -> None:
    """Run the HTTP server (all enabled surfaces on one port)."""
    import uvicorn

    from pentad.app import create_app

    settings = _settings(config)
    if host is not None:
        settings.server.host = host
    if port is not None:
        settings.server.port = port
    try:
        application = create_app(settings)
    except ConfigError as exc:
        errors.print(f"pentad: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    # uvicorn's own loggers propagate to ours (log_config=None), so access lines are redacted too
    logsetup.configure(settings.logging.level, settings.logging.json_output, logsetup.secret_values(settings))
    console.print(
        f"Pentad {__version__} on http://{settings.server.host}:{settings.server.port} "
        f"(database: {'SQLite' if settings.database_url.startswith('sqlite') else 'PostgreSQL'}, "
        f"docs: /swagger-ui/)"
    )
    uvicorn.run(
        application,
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.logging.level,
        log_config=None,
        timeout_graceful_shutdown=math.ceil(settings.server.shutdown_grace_seconds),
        proxy_headers=True,
        ws="websockets-sansio",
    )


demo_app = typer.Typer(help="Load demo data.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


@demo_app.command("crm")
def demo_crm(
    deals: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many deals")] = 3000,
    owner: Annotated[str, typer.Option(help="User id, email or username that owns the workspace")] = "admin",
    config: ConfigOption = None,
) -> None:
    """Create a workspace with a realistic sales pipeline to try the CRM surface on."""
    from pentad.surfaces.crm.demo import seed_crm

    async def work(core: CoreServices, session: AsyncSession) -> str:
        user = await core.identity.find_user(session, owner)
        workspace = await seed_crm(session, user.id, deals=deals)
        return str(workspace.id)

    workspace_id = _transact(config, work)
    console.print(
        f"created workspace {workspace_id} with {deals} deals; try GET /api/v1/workspaces/{workspace_id}"
        "/analytics/pipeline"
    )


@app.command()
def worker(
    config: ConfigOption = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Worker processes")] = 2,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "info",
) -> None:
    """Run a Celery worker for the scale-out job runner (jobs.runner = "celery")."""
    from pentad.worker import run_worker

    run_worker(_settings(config), concurrency=concurrency, loglevel=loglevel)


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Apply database migrations up to the newest revision."""
    from pentad.core.db import Database
    from pentad.migrations import current_revision, upgrade

    async def work(settings: Settings) -> str | None:
        settings.server.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database_url, schema=settings.database.schema_name)
        try:
            await upgrade(db)
            return await current_revision(db)
        finally:
            await db.dispose()

    revision = _run(_settings(config), work)
    console.print(f"database at revision {revision}")


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write the OpenAPI 3.1 document of every enabled surface."""
    from pentad.app import create_app

    document = json.dumps(create_app(_settings(config)).openapi(), indent=2)
    if output is None:
        sys.stdout.write(document + "\n")
    else:
        output.write_text(document + "\n")
        console.print(f"wrote {output}")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Email address (spec 000 login)")],
    username: Annotated[str, typer.Option(help="Username (spec 004 login)")],
    role: Annotated[
        list[str] | None, typer.Option("--role", "-r", help="admin, operator, user or viewer; repeatable")
    ] = None,
    name: Annotated[str, typer.Option(help="Display name")] = "",
    password: Annotated[
        str | None, typer.Option(help="Password; prompted for when omitted", envvar="PENTAD_NEW_PASSWORD")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Create a user."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(core: CoreServices, session: AsyncSession) -> str:
        user = await core.identity.create_user(
            session, email=email, username=username, password=password, roles=role or ["user"], name=name
        )
        return str(user.id)

    user_id = _transact(config, work)
    console.print(f"created user {username} ({user_id})")


@user_app.command("list")
def user_list(config: ConfigOption = None) -> None:
    """List users."""

    async def work(core: CoreServices, session: AsyncSession) -> list[tuple[str, str, str, str, bool]]:
        users = await core.identity.list_users(session)
        return [(str(u.id), u.username, u.email, ",".join(u.roles), u.is_active) for u in users]

    table = Table("id", "username", "email", "roles", "active")
    for row in _transact(config, work):
        table.add_row(row[0], row[1], row[2], row[3], "yes" if row[4] else "no")
    console.print(table)


@apikey_app.command("create")
def apikey_create(
    user: Annotated[str, typer.Option(help="User id, email or username that owns the key")],
    name: Annotated[str, typer.Option(help="A label to recognise the key by")] = "",
    config: ConfigOption = None,
) -> None:
    """Create an API key. The key is shown once; only its hash is stored."""

    async def work(core: CoreServices, session: AsyncSession) -> tuple[str, str]:
        owner = await core.identity.find_user(session, user)
        api_key, plaintext = await core.identity.create_api_key(session, owner, name)
        return str(api_key.id), plaintext

    key_id, plaintext = _transact(config, work)
    errors.print(f"created API key {key_id}; store it now, it is not shown again:")
    sys.stdout.write(plaintext + "\n")


@apikey_app.command("revoke")
def apikey_revoke(
    key: Annotated[str, typer.Argument(help="Key id or its displayed prefix")],
    config: ConfigOption = None,
) -> None:
    """Revoke an API key."""

    async def work(core: CoreServices, session: AsyncSession) -> str:
        return str((await core.identity.revoke_api_key(session, key)).id)

    console.print(f"revoked API key {_transact(config, work)}")


@apikey_app.command("list")
def apikey_list(config: ConfigOption = None) -> None:
    """List API keys (prefixes only)."""

    async def work(core: CoreServices, session: AsyncSession) -> list[tuple[str, str, str, str]]:
        keys = await core.identity.list_api_keys(session)
        return [(str(k.id), k.prefix + "…", k.name, "revoked" if k.revoked_at else "active") for k in keys]

    table = Table("id", "prefix", "name", "state")
    for row in _transact(config, work):
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    app()
