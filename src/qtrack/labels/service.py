"""Label template use cases."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.codes import tokens
from qtrack.codes.models import ItemLabel, LabelTemplate
from qtrack.config import Settings
from qtrack.core.errors import Conflict, NotFound, ValidationFailed
from qtrack.items.errors import ItemNotFound
from qtrack.items.models import Item
from qtrack.labels.defaults import SHIPPED_TEMPLATES
from qtrack.labels.pdf import LabelContent, SheetLayout
from qtrack.locations import service as locations_service


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


MAX_LABELS = 1000


class TooManyLabels(ValidationFailed):
    code, message = "too_many_labels", f"At most {MAX_LABELS} labels a request"


def split_codes(raw: str | None) -> list[str]:
    """Codes from a comma-separated list, upper-cased."""
    return [c.strip().upper() for c in (raw or "").split(",") if c.strip()]


async def label_contents(
    session: AsyncSession, settings: Settings, *, items: list[str], locations: list[str]
) -> list[LabelContent]:
    """What each label shows, items first, then locations. Items without a current label get
    one signed now."""
    if not items and not locations:
        raise ValidationFailed(
            "Name the items or locations to print",
            details=[{"loc": ["query", "items"], "msg": "required", "type": "missing"}],
        )
    if len(items) + len(locations) > MAX_LABELS:
        raise TooManyLabels()
    found = {
        i.code: i for i in (await session.scalars(select(Item).where(Item.code.in_(items)))).all()
    }
    missing = [c for c in items if c not in found]
    if missing:
        raise ItemNotFound(f"No item {missing[0]}", details={"missing": missing[:20]})
    current = {
        label.item_id: label
        for label in (
            await session.scalars(
                select(ItemLabel).where(
                    ItemLabel.item_id.in_([i.id for i in found.values()]),
                    ItemLabel.revoked_at.is_(None),
                )
            )
        ).all()
    }
    contents = []
    for code in items:
        item = found[code]
        label = current.get(item.id) or await tokens.issue_label(
            session, settings, item=item, issued_by=None
        )
        contents.append(
            LabelContent(
                code=item.code,
                qr_data=tokens.label_url(settings, label.token),
                name=item.name,
                batch=item.batch,
                expiry=item.expiry_on.isoformat() if item.expiry_on else None,
            )
        )
    for code in locations:
        location = await locations_service.get_by_code(session, code)
        contents.append(LabelContent(code=location.code, qr_data=location.code, name=location.name))
    return contents
