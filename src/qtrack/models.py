"""Every domain's tables in one MetaData, for Alembic and for the model/migration check.

This is the one module outside app.py and cli/ that imports across all domains; it holds
no tables of its own.
"""

from qtrack.accounts import models as accounts_models
from qtrack.alerts import models as alerts_models
from qtrack.audit import models as audit_models
from qtrack.categories import models as categories_models
from qtrack.codes import models as codes_models
from qtrack.core import idempotency as idempotency_models
from qtrack.core.orm import Base
from qtrack.events import models as events_models
from qtrack.imports import models as imports_models
from qtrack.integrations.webhooks import models as webhooks_models
from qtrack.inventory import models as inventory_models
from qtrack.item_types import models as item_types_models
from qtrack.items import models as items_models
from qtrack.jobs import models as jobs_models
from qtrack.locations import models as locations_models
from qtrack.orders import models as orders_models
from qtrack.shipments import models as shipments_models
from qtrack.signing import models as signing_models
from qtrack.stock import models as stock_models
from qtrack.sync import models as sync_models
from qtrack.workflow import models as workflow_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "alerts_models",
    "audit_models",
    "categories_models",
    "codes_models",
    "events_models",
    "idempotency_models",
    "imports_models",
    "inventory_models",
    "item_types_models",
    "items_models",
    "jobs_models",
    "locations_models",
    "metadata",
    "orders_models",
    "shipments_models",
    "signing_models",
    "stock_models",
    "sync_models",
    "webhooks_models",
    "workflow_models",
]
