"""Label template use cases."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.codes.models import LabelTemplate
from qtrack.core.errors import NotFound
from qtrack.labels.defaults import SHIPPED_TEMPLATES


class TemplateNotFound(NotFound):
    code, message = "label_template_not_found", "No such label template"


async def list_templates(session: AsyncSession) -> Sequence[LabelTemplate]:
    """Every label template, by key."""
    return (await session.scalars(select(LabelTemplate).order_by(LabelTemplate.key))).all()


async def get_template(session: AsyncSession, key: str) -> LabelTemplate:
    """A label template by key; 404 label_template_not_found."""
    template = await session.scalar(select(LabelTemplate).where(LabelTemplate.key == key))
    if template is None:
        raise TemplateNotFound(f"No label template '{key}'")
    return template


async def ensure_shipped_templates(session: AsyncSession) -> None:
    """Create the shipped label templates where missing."""
    existing = {t.key for t in await list_templates(session)}
    for key, fields in SHIPPED_TEMPLATES.items():
        if key not in existing:
            session.add(LabelTemplate(key=key, builtin=True, **fields))
    await session.flush()
