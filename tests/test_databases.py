"""The PostgreSQL test databases (tests/databases.py): a database handed to a second test holds
what the template holds, and one whose schema a test changed is never handed on."""

from typing import Any

import asyncpg

from tests.databases import PostgresTemplates, _plain_dsn, unavailable


async def _state(url: str) -> dict[str, Any]:
    """Every public table's rows (sorted, as text) and every sequence's position."""
    conn = await asyncpg.connect(_plain_dsn(url))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )
        rows = {
            t["tablename"]: sorted(
                str(tuple(r))
                for r in await conn.fetch(f'SELECT * FROM "{t["tablename"]}"')  # noqa: S608
            )
            for t in tables
        }
        sequences = {
            r["sequencename"]: r["last_value"]
            for r in await conn.fetch("SELECT sequencename, last_value FROM pg_sequences")
        }
        return {"rows": rows, "sequences": sequences}
    finally:
        await conn.close()


async def _activity(url: str) -> int:
    """Dead rows and rows changed since the last analyze, over every table."""
    conn = await asyncpg.connect(_plain_dsn(url))
    try:
        return int(
            await conn.fetchval(
                "SELECT coalesce(sum(n_dead_tup + n_mod_since_analyze), 0) FROM pg_stat_user_tables"
            )
        )
    finally:
        await conn.close()


def _templates(postgres_templates: PostgresTemplates | str) -> PostgresTemplates:
    if isinstance(postgres_templates, str):
        unavailable("postgres", postgres_templates)
    assert isinstance(postgres_templates, PostgresTemplates)
    if not postgres_templates.reusable:
        unavailable("postgres", "the test user is no superuser: no database is reused")
    return postgres_templates


async def _leave_a_mess(url: str, templates: PostgresTemplates) -> asyncpg.Connection:
    """What a test leaves: seeded rows gone and every sequence advanced; the session is left
    open (the caller makes it hold a lock)."""
    conn = await asyncpg.connect(_plain_dsn(url))
    seeded = next(iter(templates.contents.rows))
    await conn.execute("SET session_replication_role = replica")
    await conn.execute(f'DELETE FROM "{seeded}"')  # noqa: S608
    for sequence, _, _ in templates.contents.sequences:
        await conn.execute("SELECT nextval($1)", sequence)
    return conn


async def test_a_database_handed_on_holds_what_the_template_holds(
    postgres_templates: PostgresTemplates | str,
) -> None:
    templates = _templates(postgres_templates)
    name, url = await templates.clone()
    # This clone may be at its last use (a clone serves at most REUSES tests, and which
    # tests this worker ran before is the scheduler's choice): count it as new, so that
    # release hands it on.
    templates.uses[name] = 1
    fresh = await _state(url)
    left = await _leave_a_mess(url, templates)
    assert await _state(url) != fresh
    await left.execute("BEGIN")
    await left.execute(f'LOCK TABLE "{templates.contents.tables[0]}"')
    await templates.release(name)

    again, url = await templates.clone()
    try:
        assert again == name  # the same database, reset
        assert await _state(url) == fresh
        assert await _activity(url) == 0  # nothing to draw autovacuum to it
    finally:
        await templates.release(again)
        if not left.is_closed():
            left.terminate()


async def test_a_database_whose_schema_changed_is_not_handed_on(
    postgres_templates: PostgresTemplates | str,
) -> None:
    templates = _templates(postgres_templates)
    name, url = await templates.clone()
    fresh = await _state(url)
    conn = await asyncpg.connect(_plain_dsn(url))
    try:
        await conn.execute("CREATE INDEX ix_test_only ON alembic_version (version_num)")
    finally:
        await conn.close()
    await templates.release(name)

    other, url = await templates.clone()
    try:
        assert other != name  # a new clone
        assert await _state(url) == fresh
    finally:
        await templates.release(other)
