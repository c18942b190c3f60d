"""Label template use cases."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.codes.models import LabelTemplate
from qtrack.core.errors import Conflict, NotFound, ValidationFailed
from qtrack.labels.defaults import SHIPPED_TEMPLATES
from qtrack.labels.pdf import SheetLayout


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


class TemplateInvalid(ValidationFailed):
    code, message = "label_template_invalid", "The labels do not fit the page"


async def create_template(session: AsyncSession, fields: dict[str, Any]) -> LabelTemplate:
    """Define a label template; 409 if the key is taken, 422 if the grid does not fit."""
    if await session.scalar(select(LabelTemplate.id).where(LabelTemplate.key == fields["key"])):
        raise Conflict(f"Label template '{fields['key']}' already exists")
    try:
        SheetLayout.from_template(fields).validate()
    except ValueError as exc:
        raise TemplateInvalid(str(exc)) from exc
    template = LabelTemplate(**fields)
    session.add(template)
    await session.flush()
    return template


async def ensure_shipped_templates(session: AsyncSession) -> None:
    """Create the shipped label templates where missing."""
    existing = {t.key for t in await list_templates(session)}
    for key, fields in SHIPPED_TEMPLATES.items():
        if key not in existing:
            session.add(LabelTemplate(key=key, builtin=True, **fields))
    await session.flush()
