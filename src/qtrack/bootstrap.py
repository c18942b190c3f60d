"""What a new database needs besides its schema: shipped roles, workflows, item types
and label templates.

Run by `qtrack db upgrade` (and by the test fixtures). Idempotent: it adds what is missing and
leaves what admins changed.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import roles as accounts_roles
from qtrack.item_types import service as item_types
from qtrack.labels import service as labels_service
from qtrack.workflow import service as workflow_service


async def bootstrap(session: AsyncSession) -> None:
    """Create the shipped data where it is missing."""
    await accounts_roles.sync_builtin_roles(session)
    await workflow_service.ensure_shipped_workflows(session)
    await item_types.ensure_shipped_item_types(session)
    await labels_service.ensure_shipped_templates(session)
