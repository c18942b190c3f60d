"""Codes use cases: publish keys, verify what a label says, issue labels."""

import re

from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.codes.schemas import LabelRead, PublicKeyRead
from qtrack.config import Settings
from qtrack.signing import keys, tokens
from qtrack.signing.models import ItemLabel

_TOKEN_IN_URL = re.compile(r"/[Qq]/([A-Za-z2-7=]+)/?$")


def token_of(data: str) -> str:
    """The token in a label URL, or the data itself when it is a bare token."""
    text = data.strip()
    match = _TOKEN_IN_URL.search(text)
    return match.group(1) if match else text


async def public_keys(session: AsyncSession) -> list[PublicKeyRead]:
    """Every key's public half, for offline verification."""
    return [
        PublicKeyRead(
            kid=row.id,
            algorithm=row.algorithm,
            public_key=keys.public_key_text(row),
            valid_from=row.valid_from,
            sign_until=row.sign_until,
            status=row.status,
        )
        for row in await keys.list_keys(session)
    ]


async def label_read(
    session: AsyncSession, settings: Settings, item_code: str, label: ItemLabel
) -> LabelRead:
    """A label as the API shows it."""
    token = await tokens.label_token(session, settings, label)
    return LabelRead(
        item=item_code,
        serial=label.serial,
        key_id=label.key_id,
        token=token,
        url=tokens.label_url(settings, token),
        issued_at=label.issued_at,
    )
