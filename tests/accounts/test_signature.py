"""E-signatures: a re-entered password, with failures counted like failed logins."""

import pytest
from sqlalchemy import select

from qtrack.accounts import service as accounts_service
from qtrack.accounts.audit import Origin
from qtrack.accounts.models import SecurityEvent
from qtrack.accounts.service import SignatureFailed, TooManyAttempts
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.core.ratelimit import MemoryRateLimiter
from tests.factories.accounts import PASSWORD, create_user


async def _sign(
    db: Database, settings: Settings, limiter: MemoryRateLimiter, password: str
) -> None:
    async with db.session_scope() as session:
        user = await accounts_service.get_user(session, "qa")
        await accounts_service.verify_signature(
            session,
            user=user,
            password=password,
            meaning="QA release",
            limiter=limiter,
            settings=settings,
            origin=Origin(ip="198.51.100.4"),
        )


async def test_signature_with_the_right_password(db: Database, settings: Settings) -> None:
    await create_user(db, "qa", "supervisor")
    await _sign(db, settings, MemoryRateLimiter(), PASSWORD)
    async with db.session_scope("read") as session:
        event = await session.scalar(
            select(SecurityEvent).where(SecurityEvent.kind == "signature_ok")
        )
    assert event is not None
    assert event.details == {"meaning": "QA release"}


async def test_wrong_password_is_refused_recorded_and_counted(
    db: Database, settings: Settings
) -> None:
    await create_user(db, "qa", "supervisor")
    limiter = MemoryRateLimiter()
    for _ in range(settings.login_rate_limit):
        with pytest.raises(SignatureFailed):
            await _sign(db, settings, limiter, "not my password")
    with pytest.raises(TooManyAttempts):
        await _sign(db, settings, limiter, PASSWORD)
    async with db.session_scope("read") as session:
        kinds = list((await session.scalars(select(SecurityEvent.kind))).all())
    assert kinds.count("signature_failed") == settings.login_rate_limit
    assert "signature_ok" not in kinds


async def test_a_disabled_user_cannot_sign(db: Database, settings: Settings) -> None:
    await create_user(db, "qa", "supervisor", active=False)
    with pytest.raises(SignatureFailed):
        await _sign(db, settings, MemoryRateLimiter(), PASSWORD)
