"""`qtrack epcis export`: the whole history as one EPCISDocument, streamed a batch at a time."""

import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from qtrack.core.db import Database
from qtrack.integrations.epcis import service as epcis_service
from tests.accounts.test_cli import create_user, qtrack
from tests.integrations.epcis.conftest import History, assert_valid, events_of
from tests.items.conftest import Crew
from tests.items.test_cli import add_locations, register


def exported(cli: CliRunner, url: str, *options: str) -> tuple[dict[str, Any], str]:
    """Run the export; the document it wrote (to standard output) and what it said."""
    result = qtrack(cli, url, "epcis", "export", *options)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document, result.stderr


def test_export_writes_a_valid_document_of_every_event(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    add_locations(cli, database_url)
    (bag,) = register(cli, database_url, "--type", "bag", "--location", "WH-B", "--as", "op")
    lots = register(
        cli, database_url, "--type", "material", "--quantity", "5", "--count", "3",
        "--location", "WH-A", "--as", "op",
    )  # fmt: skip
    for args in (
        ("transition", lots[0], "quarantine"),
        ("move", lots[1], "WH-B"),
        ("pack", lots[2], bag),
        ("unpack", lots[2]),
        ("quantity", lots[1], "dispense", "1.5"),
    ):
        result = qtrack(cli, database_url, "items", *args, "--as", "op")
        assert result.exit_code == 0, result.output

    out = tmp_path / "events.jsonld"
    result = qtrack(cli, database_url, "epcis", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.strip() == "9 events exported"
    document = json.loads(out.read_bytes())
    assert_valid(document)
    assert document["type"] == "EPCISDocument"
    events = document["epcisBody"]["eventList"]
    assert [e["qtrack:type"] for e in events] == [
        "created", "created", "created", "created",
        "status_changed", "moved", "packed", "unpacked", "quantity_changed",
    ]  # fmt: skip
    assert {e["type"] for e in events} == {"ObjectEvent", "AggregationEvent"}

    # To standard output, and only a window of time.
    same, _ = exported(cli, database_url)
    assert [e["eventID"] for e in same["epcisBody"]["eventList"]] == [e["eventID"] for e in events]
    cut = events[5]["eventTime"]
    early, said = exported(cli, database_url, "--until", cut)
    late, _ = exported(cli, database_url, "--since", cut)
    assert said.strip() == "5 events exported"
    assert early["epcisBody"]["eventList"] + late["epcisBody"]["eventList"] == events
    none, _ = exported(cli, database_url, "--since", "2999-01-01")
    assert none["epcisBody"]["eventList"] == []
    assert_valid(none)


def test_a_bad_time_is_refused(cli: CliRunner, database_url: str) -> None:
    result = qtrack(cli, database_url, "epcis", "export", "--since", "last tuesday")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: invalid_time: ")


async def test_batches_join_into_one_document(
    client: httpx.AsyncClient, crew: Crew, history: History, db: Database
) -> None:
    """However the events fall into batches, the pieces make one valid document."""
    everything = [e["eventID"] for e in await events_of(client, crew.admin.headers)]
    for batch in (1, 2, 5, 13, 100):
        pieces: list[bytes] = []
        async with db.session_scope("read") as session:
            count = await epcis_service.export_document(
                session, db.settings, since=None, until=None, write=pieces.append, batch=batch
            )
        document = json.loads(b"".join(pieces))
        assert_valid(document)
        assert count == len(everything) == 13
        assert [e["eventID"] for e in document["epcisBody"]["eventList"]] == everything
        assert len(pieces) == 2 + -(-13 // batch)  # head, one piece a batch, tail
