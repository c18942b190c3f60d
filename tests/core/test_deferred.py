"""A request's session is made when first used, as its maker would make it (core/deferred.py)."""

import pytest
from sqlalchemy import select, text

from qtrack.accounts.models import Role
from qtrack.core.db import Database
from qtrack.core.deferred import DeferredSession, started, unstarted_engine


async def test_made_on_first_use_as_its_maker_makes_one(db: Database) -> None:
    for mode in ("read", "write"):
        maker = db.sessionmaker(mode)
        plain = maker()
        deferred = DeferredSession(maker)
        assert not started(deferred)
        assert unstarted_engine(deferred) is maker.kw["bind"].sync_engine
        assert "sync_session" not in vars(deferred)  # nothing made yet

        assert await deferred.scalar(text("SELECT 1")) == 1
        assert started(deferred)
        assert unstarted_engine(deferred) is None
        for name in ("expire_on_commit", "autoflush", "info"):
            assert getattr(deferred.sync_session, name) == getattr(plain.sync_session, name)
        assert deferred.sync_session.get_bind() is plain.sync_session.get_bind()
        assert deferred.sync_session.info is not maker.kw.get("info")  # its own, as made
        assert isinstance(deferred.sync_session, type(plain.sync_session))
        await deferred.close()
        await plain.close()


async def test_any_first_use_makes_it_and_it_works_as_a_session(db: Database) -> None:
    deferred = DeferredSession(db.sessionmaker("write"))
    assert deferred.in_transaction() is False  # a proxied method, first
    assert started(deferred)
    async with deferred.begin():
        keys = (await deferred.scalars(select(Role.key))).all()
    assert "viewer" in keys
    assert not deferred.in_transaction()
    await deferred.close()

    other = DeferredSession(db.sessionmaker("read"))
    other.info["key"] = "value"  # a proxied property, first
    assert started(other)
    assert other.sync_session.info["key"] == "value"
    await other.close()


async def test_a_plain_session_is_started(db: Database) -> None:
    async with db.session_scope("read") as session:
        assert started(session)
        assert unstarted_engine(session) is None


async def test_a_session_that_cannot_be_made_says_why_and_stays_unmade(db: Database) -> None:
    maker = db.sessionmaker("read")
    broken = DeferredSession(maker)
    broken.__dict__["_maker_kw"] = {**maker.kw, "no_such_option": True}
    with pytest.raises(RuntimeError, match="no_such_option"):
        _ = broken.info  # a property first: not answered with a bare AttributeError
    assert not started(broken)
    broken.__dict__["_maker_kw"] = maker.kw
    assert await broken.scalar(text("SELECT 1")) == 1  # made on the next use
    await broken.close()
