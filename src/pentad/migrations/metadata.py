"""Every table Pentad owns, imported in one place so Alembic sees the whole schema."""

from pentad.core.db import Base
from pentad.core.edge import models as edge_models
from pentad.core.identity import models as identity_models
from pentad.core.jobs import models as job_models
from pentad.core.webhooks import models as webhook_models
from pentad.surfaces.crm import models as crm_models
from pentad.surfaces.vsm import models as vsm_models

target_metadata = Base.metadata

__all__ = [
    "crm_models",
    "edge_models",
    "identity_models",
    "job_models",
    "target_metadata",
    "vsm_models",
    "webhook_models",
]
