"""Label template use cases."""

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from reportlab.lib.units import mm
from sqlalchemy import Column, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.codes.models import LabelTemplate
from qtrack.config import Settings
from qtrack.core.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from qtrack.item_types.models import ItemType
from qtrack.items.errors import ItemNotFound
from qtrack.items.models import Item
from qtrack.labels.defaults import SHIPPED_TEMPLATES
from qtrack.labels.pdf import PAGE_SIZES, LabelContent, SheetLayout
from qtrack.locations import service as locations_service
from qtrack.signing import tokens
from qtrack.signing.models import ItemLabel


class TemplateNotFound(NotFound):
    code, message = "label_template_not_found", "No such label template"


class TemplateInvalid(ValidationFailed):
    code, message = "label_template_invalid", "The labels do not fit the page"


class TemplateChanged(PreconditionFailed):
    code, message = "label_template_changed", "The template changed since it was read"


class TemplateBuiltin(Conflict):
    code = "label_template_builtin"
    message = "A shipped template can be edited or reset, but not deleted"


class TemplateNotShipped(Conflict):
    code, message = "label_template_not_shipped", "Only shipped templates have values to reset to"


class TemplateInUse(Conflict):
    code, message = "label_template_in_use", "Item types print with this template by default"


# What a template is, apart from its key and whether it ships with qtrack.
LAYOUT_FIELDS = (
    "name",
    "page",
    "label_width_mm",
    "label_height_mm",
    "columns",
    "rows",
    "margin_top_mm",
    "margin_left_mm",
    "gap_x_mm",
    "gap_y_mm",
    "fields",
    "font_size_pt",
)


async def list_templates(session: AsyncSession) -> Sequence[LabelTemplate]:
    """Every label template, by key."""
    return (await session.scalars(select(LabelTemplate).order_by(LabelTemplate.key))).all()


async def get_template(session: AsyncSession, key: str, *, lock: bool = False) -> LabelTemplate:
    """A label template by key; 404 label_template_not_found."""
    stmt = select(LabelTemplate).where(LabelTemplate.key == key)
    template = await session.scalar(stmt.with_for_update() if lock else stmt)
    if template is None:
        raise TemplateNotFound(f"No label template '{key}'", details={"key": key})
    return template


def template_etag(template: LabelTemplate) -> str:
    """The template's ETag: a digest of its layout (templates carry no version number)."""
    layout = {name: getattr(template, name) for name in LAYOUT_FIELDS}
    digest = hashlib.sha256(json.dumps(layout, sort_keys=True).encode()).hexdigest()[:24]
    return f'"{digest}"'


def _check_fits(fields: Mapping[str, Any]) -> None:
    """422 label_template_invalid, naming the field to change, unless the layout is drawable
    and its grid fits the page."""
    try:
        SheetLayout.from_template(fields)
    except ValueError as exc:
        raise TemplateInvalid(
            str(exc), details=[{"loc": ["body", _culprit(fields)], "msg": str(exc)}]
        ) from exc


def _culprit(fields: Mapping[str, Any]) -> str:
    """The field a fit error is shown against: columns when the grid is too wide, else rows."""
    page = PAGE_SIZES.get(str(fields.get("page")))
    if page is None:
        return "page"
    columns = int(fields.get("columns") or 1)
    width = float(fields.get("label_width_mm") or 0)
    used = float(fields.get("margin_left_mm") or 0) + columns * width
    used += (columns - 1) * float(fields.get("gap_x_mm") or 0)
    return "columns" if used > page[0] / mm + 0.01 else "rows"


async def create_template(session: AsyncSession, fields: dict[str, Any]) -> LabelTemplate:
    """Define a label template; 409 if the key is taken, 422 if the grid does not fit."""
    if await session.scalar(select(LabelTemplate.id).where(LabelTemplate.key == fields["key"])):
        raise Conflict(
            f"Label template '{fields['key']}' already exists",
            details=[{"loc": ["body", "key"], "msg": "already exists"}],
        )
    _check_fits(fields)
    template = LabelTemplate(**fields)
    session.add(template)
    await session.flush()
    return template


async def update_template(
    session: AsyncSession, key: str, changes: Mapping[str, Any], *, if_match: str | None = None
) -> LabelTemplate:
    """Change a template's layout (shipped ones too); 422 if the result does not fit its
    page, 412 if `if_match` names an earlier state of it."""
    unknown = set(changes) - set(LAYOUT_FIELDS)
    if unknown:  # the schemas never send these: a caller's mistake, not the user's
        raise ValueError(f"not layout fields: {sorted(unknown)}")
    template = await get_template(session, key, lock=True)
    if if_match is not None and if_match.strip().removeprefix("W/") not in (
        "*",
        template_etag(template),
    ):
        raise TemplateChanged(
            f"Label template '{key}' was changed by someone else; reload it and try again"
        )
    _check_fits({**{name: getattr(template, name) for name in LAYOUT_FIELDS}, **changes})
    for name, value in changes.items():
        setattr(template, name, value)
    await session.flush()
    return template


async def reset_template(session: AsyncSession, key: str) -> LabelTemplate:
    """Put a shipped template back to the values qtrack ships it with."""
    if key not in SHIPPED_TEMPLATES:
        await get_template(session, key)  # 404 for an unknown key, before 409
        raise TemplateNotShipped(f"Label template '{key}' is not one qtrack ships")
    shipped = SHIPPED_TEMPLATES[key]
    return await update_template(
        session, key, {name: shipped.get(name, 0) for name in LAYOUT_FIELDS}
    )


def _references() -> list[tuple[Table, Column[Any], str]]:
    """Every column that points at a label template by foreign key: (table, column, the
    template column it holds)."""
    return [
        (table, fk.parent, fk.column.name)
        for table in LabelTemplate.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table is LabelTemplate.__table__
    ]


async def template_users(session: AsyncSession, template: LabelTemplate) -> list[str]:
    """What prints with this template by default (item types), by key: one query per kind
    of reference, never per row."""
    users: list[str] = []
    for table, column, target in _references():
        name = table.c.key if "key" in table.c else table.c[next(iter(table.primary_key)).name]
        rows = await session.scalars(
            select(name).where(column == getattr(template, target)).order_by(name).limit(20)
        )
        users += [str(row) for row in rows]
    return users


async def delete_template(session: AsyncSession, key: str) -> None:
    """Delete a template; 409 for a shipped one (the server's defaults print with them) and
    for one an item type prints with by default."""
    template = await get_template(session, key, lock=True)
    if template.builtin:
        raise TemplateBuiltin(
            f"'{key}' ships with qtrack and is a default for printing: edit or reset it instead",
            details={"key": key},
        )
    users = await template_users(session, template)
    if users:
        raise TemplateInUse(
            f"Item types print with '{key}' by default ({', '.join(users)}): "
            "give them another template first",
            details={"key": key, "item_types": users},
        )
    await session.delete(template)
    await session.flush()


async def ensure_shipped_templates(session: AsyncSession) -> None:
    """Create the shipped label templates where missing."""
    existing = {t.key for t in await list_templates(session)}
    for key, fields in SHIPPED_TEMPLATES.items():
        if key not in existing:
            session.add(LabelTemplate(key=key, builtin=True, **fields))
    await session.flush()


def sample_contents(settings: Settings, layout: SheetLayout) -> list[LabelContent]:
    """A sheet of made-up labels with a real label's QR size, to preview a template."""
    # A token of the real length: the QR comes out the size it will be on printed labels.
    url = tokens.label_url(settings, "A" * tokens.TOKEN_LENGTH)
    return [
        LabelContent(
            code=f"MAT-{n:06d}",
            qr_data=url,
            name="Sample item with a long name",
            batch="LOT-2026-001",
            expiry="2027-12-31",
        )
        for n in range(1, layout.per_page + 1)
    ]


MAX_LABELS = 1000


class TooManyLabels(ValidationFailed):
    code, message = "too_many_labels", f"At most {MAX_LABELS} labels a request"


def split_codes(raw: str | None) -> list[str]:
    """Codes from a comma-separated list, upper-cased."""
    return [c.strip().upper() for c in (raw or "").split(",") if c.strip()]


# What sheets print with when neither the request nor the items' types name a template.
DEFAULT_SHEET_TEMPLATE = "a4-21"


async def sheet_template(
    session: AsyncSession, *, requested: str | None, items: list[str]
) -> LabelTemplate:
    """The template a PDF prints with: the one asked for; else the items' type's default
    when they all share one; else the server's default sheet."""
    if len(items) > MAX_LABELS:
        # Before the codes reach a statement: past 32,767 PostgreSQL refuses the statement.
        raise TooManyLabels()
    key = requested
    if key is None and items:
        defaults = set(
            (
                await session.scalars(
                    select(ItemType.label_template_key)
                    .join(Item, Item.type_id == ItemType.id)
                    .where(Item.code.in_(items))
                    .distinct()
                )
            ).all()
        )
        if len(defaults) == 1:
            key = defaults.pop()
    return await get_template(session, key or DEFAULT_SHEET_TEMPLATE)


async def label_contents(
    session: AsyncSession, settings: Settings, *, items: list[str], locations: list[str]
) -> list[LabelContent]:
    """What each label shows, items first, then locations. Items without a current label get
    one signed now, once: a code named twice prints that label twice (a second one would
    revoke the first)."""
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
        label = current.get(item.id)
        if label is None:
            label = current[item.id] = await tokens.issue_label(
                session, settings, item_id=item.id, issued_by=None
            )
        contents.append(
            LabelContent(
                code=item.code,
                qr_data=tokens.label_url(
                    settings, await tokens.label_token(session, settings, label)
                ),
                name=item.name,
                batch=item.batch,
                expiry=item.expiry_on.isoformat() if item.expiry_on else None,
            )
        )
    for code in locations:
        location = await locations_service.get_by_code(session, code)
        contents.append(LabelContent(code=location.code, qr_data=location.code, name=location.name))
    return contents
