"""Migrations apply cleanly on SQLite and PostgreSQL, are idempotent, and match the models."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from pentad.core.db import Database
from pentad.migrations import current_revision, upgrade
from pentad.migrations.metadata import include_object, target_metadata
from tests.helpers import SettingsFactory


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include_object}
    )
    return list(compare_metadata(context, target_metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_creates_schema_matching_models(backend: str, make_settings: SettingsFactory) -> None:
    settings = make_settings(backend)
    if settings.database.schema_name:
        import asyncpg

        from tests.helpers import POSTGRES_DSN

        connection = await asyncpg.connect(POSTGRES_DSN)
        await connection.execute(f"CREATE SCHEMA {settings.database.schema_name}")
        await connection.close()
    settings.server.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url, schema=settings.database.schema_name)
    try:
        await upgrade(db)
        head = await current_revision(db)
        assert head is not None
        await upgrade(db)  # idempotent
        assert await current_revision(db) == head
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(_tables)
            assert {"users", "api_keys", "revoked_tokens", "idempotency_records"} <= tables
            assert await connection.run_sync(_diff) == []
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_concurrent_upgrades_on_postgres_serialise(make_settings: SettingsFactory) -> None:
    import asyncpg

    from tests.helpers import POSTGRES_DSN

    settings = make_settings("postgres")
    connection = await asyncpg.connect(POSTGRES_DSN)
    await connection.execute(f"CREATE SCHEMA {settings.database.schema_name}")
    await connection.close()
    nodes = [Database(settings.database_url, schema=settings.database.schema_name) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(node) for node in nodes))
        revisions = {await current_revision(node) for node in nodes}
        assert len(revisions) == 1
        assert None not in revisions
    finally:
        for node in nodes:
            await node.dispose()
