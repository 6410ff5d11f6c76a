"""CRM job handlers: integration syncs. Each batch of records commits on its own, so a sync that fails
midway keeps what it already imported; records are upserted by (integration, external id), so running a
sync again updates instead of duplicating."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from pentad.core.context import CoreServices
from pentad.core.db import utcnow
from pentad.core.jobs.context import JobContext
from pentad.core.jobs.registry import JobRegistry, JobSpec
from pentad.surfaces.crm.connectors import build_connector, map_record
from pentad.surfaces.crm.models import Deal, Integration, Workspace
from pentad.surfaces.crm.schemas import DealCreate, DealUpdate
from pentad.surfaces.crm.service import CrmService

SYNC_JOB = "crm:integration-sync"
MAX_REPORTED_ERRORS = 20


async def sync_integration(ctx: JobContext) -> dict[str, Any]:
    core: CoreServices = ctx.resources["core"]
    service = CrmService(core)
    db = core.db
    integration_id = uuid.UUID(ctx.payload["integration_id"])
    upload = Path(ctx.payload["upload_path"]) if ctx.payload.get("upload_path") else None
    async with db.transaction() as session:
        integration = await session.get(Integration, integration_id)
        if integration is None:
            raise ValueError("integration was disconnected")
        integration.status = "syncing"
        kind, config, workspace_id = integration.type, dict(integration.config), integration.workspace_id
    source = f"integration:{integration_id}"
    mapping = dict(config.get("field_mapping", {}))
    imported, skipped, batches = 0, [], 0
    await ctx.log(f"sync started ({kind})", integration_id=str(integration_id))
    try:
        connector = build_connector(kind, config, upload, core.settings.webhooks.allowed_hosts)
        async for batch in connector.batches():
            ctx.raise_if_cancelled()
            async with db.transaction() as session:
                workspace = await session.get(Workspace, workspace_id)
                if workspace is None:
                    raise ValueError("workspace no longer exists")
                for record in batch:
                    try:
                        fields = map_record(record, mapping)
                        external_id = fields.pop("external_id")
                        existing = (
                            await session.execute(
                                select(Deal).where(
                                    Deal.workspace_id == workspace_id,
                                    Deal.source == source,
                                    Deal.external_id == external_id,
                                )
                            )
                        ).scalar_one_or_none()
                        if existing is None:
                            await service.create_deal(
                                session,
                                None,
                                workspace,
                                DealCreate(**fields),
                                source=source,
                                external_id=external_id,
                            )
                        else:
                            await service.update_deal(session, None, existing, DealUpdate(**fields))
                        imported += 1
                    except (ValueError, ValidationError) as exc:
                        skipped.append(
                            {
                                "record": str(record.get(mapping.get("external_id", "id"), "?")),
                                "error": str(exc).splitlines()[0][:200],
                            }
                        )
            batches += 1
            await ctx.progress(
                min(95, 5 + batches * 10),
                current_step=f"imported {imported} records",
                records_synced=imported,
            )
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        async with db.transaction() as session:
            integration = await session.get(Integration, integration_id)
            if integration is not None:
                integration.status = "error"
                integration.last_error = reason[:1000]
                integration.records_synced = imported
            data = {
                "integration_id": str(integration_id),
                "status": "failed",
                "records_synced": imported,
                "error": reason[:500],
                "workspace_id": str(workspace_id),
            }
            await core.webhooks.emit(
                session, "integration.failed", data, style="crm", scope=str(workspace_id)
            )
            service.announce(session, workspace_id, "integration.synced", data)
        raise
    finally:
        if upload is not None:
            with contextlib.suppress(OSError):
                upload.unlink()
    async with db.transaction() as session:
        integration = await session.get(Integration, integration_id)
        if integration is not None:
            integration.status = "connected"
            integration.records_synced = imported
            integration.last_synced_at = utcnow()
            integration.last_error = None
        service.announce(
            session,
            workspace_id,
            "integration.synced",
            {"integration_id": str(integration_id), "status": "success", "records_synced": imported},
        )
    await ctx.log(
        f"sync finished: {imported} imported, {len(skipped)} skipped", integration_id=str(integration_id)
    )
    return {
        "integration_id": str(integration_id),
        "records_synced": imported,
        "skipped": len(skipped),
        "errors": skipped[:MAX_REPORTED_ERRORS],
    }


def register(registry: JobRegistry) -> None:
    registry.register(JobSpec(SYNC_JOB, sync_integration, timeout_seconds=1800, on_interrupt="requeue"))
