"""Every table Pentad owns, imported in one place so Alembic sees the whole schema."""

from pentad.core.db import Base
from pentad.core.edge import models as edge_models
from pentad.core.identity import models as identity_models
from pentad.core.jobs import models as job_models
from pentad.core.webhooks import models as webhook_models
from pentad.engines.goldrush import models as goldrush_models
from pentad.engines.llm import models as llm_models
from pentad.engines.logs import models as log_models
from pentad.surfaces.crm import models as crm_models
from pentad.surfaces.gateway import models as gateway_models
from pentad.surfaces.vsm import models as vsm_models

target_metadata = Base.metadata

# Full-text search objects made by raw SQL in a migration; the models do not describe them.
UNMODELLED = ("log_records_fts", "ix_log_records_message_fts")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (name or "").startswith(UNMODELLED)


__all__ = [
    "crm_models",
    "edge_models",
    "gateway_models",
    "goldrush_models",
    "identity_models",
    "include_object",
    "job_models",
    "llm_models",
    "log_models",
    "target_metadata",
    "vsm_models",
    "webhook_models",
]
