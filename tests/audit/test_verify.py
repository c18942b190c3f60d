"""`qtrack audit checkpoint` / `verify`: a deleted or rewound tail, a rewritten history, a forged
or removed checkpoint are found and named; an intact history passes."""

from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from qtrack.audit.exported import Signed, read
from qtrack.audit.statement import sign
from tests.audit.history import edit, query, rewind, seed, tamper
from tests.test_cli import invoke


def _checkpoint(cli: CliRunner, url: str) -> dict[str, object]:
    result = invoke(cli, ["audit", "checkpoint"], QTRACK_DATABASE_URL=url)
    assert result.exit_code == 0, result.output
    line: dict[str, object] = orjson.loads(result.stdout.splitlines()[0])
    return line


def _verify(cli: CliRunner, url: str, *args: str) -> tuple[int, str]:
    result = invoke(cli, ["audit", "verify", *args], QTRACK_DATABASE_URL=url)
    return result.exit_code, result.output


def _export(cli: CliRunner, url: str, path: Path) -> None:
    result = invoke(
        cli, ["audit", "checkpoints", "export", "--out", str(path)], QTRACK_DATABASE_URL=url
    )
    assert result.exit_code == 0, result.output


def _item_id(url: str, code: str) -> int:
    return int(query(url, "SELECT id FROM item WHERE code = :code", code=code)[0][0])


def test_intact_history_passes(cli: CliRunner, database_url: str, tmp_path: Path) -> None:
    codes = seed(database_url, lots=4)
    code, output = _verify(cli, database_url)
    assert code == 0, output
    assert "no checkpoints yet" in output

    first = _checkpoint(cli, database_url)
    assert (first["id"], first["events"], first["items"], first["changed"]) == (1, 12, 4, 4)
    assert first["prev_hash"] is None
    edit(database_url, codes[1], times=2)
    second = _checkpoint(cli, database_url)
    # Only the head that moved is recorded again; the totals cover every chain.
    assert (second["id"], second["events"], second["items"], second["changed"]) == (2, 14, 4, 1)
    assert second["prev_hash"] == first["hash"]
    edit(database_url, codes[2])  # after the last checkpoint: fine

    code, output = _verify(cli, database_url)
    assert code == 0, output
    assert output.splitlines() == [
        "15 events, 4 items, all chains intact",
        output.splitlines()[1],
    ]
    assert "2 checkpoints, signatures and links intact; the latest, #2" in output
    assert "counts 14 events up to event #14" in output

    export = tmp_path / "checkpoints.jsonl"
    _export(cli, database_url, export)
    code, output = _verify(cli, database_url, "--checkpoints", str(export))
    assert code == 0, output
    assert "checkpoints.jsonl: 2 checkpoints, each in the database unchanged" in output


def test_export_is_the_checkpoints_and_their_heads(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    seed(database_url, lots=3)
    first = _checkpoint(cli, database_url)
    export = tmp_path / "c.jsonl"
    _export(cli, database_url, export)
    lines = [orjson.loads(line) for line in export.read_bytes().splitlines()]
    assert [line["type"] for line in lines] == ["checkpoint", "heads"]
    assert lines[0] == first
    ids = [item_id for item_id, _, _ in lines[1]["heads"]]
    assert ids == sorted(ids)
    assert len(ids) == 3
    rows = query(
        database_url, "SELECT item_id, seq, hash FROM event WHERE seq = 3 ORDER BY item_id"
    )
    assert [tuple(h) for h in lines[1]["heads"]] == [tuple(r) for r in rows]
    # The file reads back as what it says.
    parsed = [entry for _, entry in read(export.read_bytes().splitlines())]
    assert isinstance(parsed[0], Signed)
    assert parsed[0].statement.hash() == first["hash"]
    # Without --out, the same lines go to standard output.
    result = invoke(cli, ["audit", "checkpoints", "export"], QTRACK_DATABASE_URL=database_url)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == export.read_bytes()


def test_a_deleted_and_rewound_tail_is_named(
    cli: CliRunner, database_url: str, backend: str
) -> None:
    codes = seed(database_url, lots=4)
    _checkpoint(cli, database_url)
    victim = _item_id(database_url, codes[1])
    tamper(database_url, backend, *rewind(victim, 1))

    code, output = _verify(cli, database_url)
    assert code == 1
    # The chains alone still look intact: that is what the checkpoint adds.
    assert "10 events, 4 items, all chains intact" in output
    problems = output.split("BROKEN against the signed checkpoints:")[1].strip().splitlines()
    assert len(problems) == 1, output
    assert problems[0].startswith(f"item {codes[1]}: checkpoint 1 recorded 3 events ending ")
    assert problems[0].endswith("the chain now has 1: events were deleted from its end")


def test_a_rewritten_history_is_named(cli: CliRunner, database_url: str, backend: str) -> None:
    codes = seed(database_url, lots=2)
    _checkpoint(cli, database_url)
    victim = _item_id(database_url, codes[0])
    tamper(database_url, backend, *rewind(victim, 2))
    edit(database_url, codes[0])  # a new third event, validly chained: only the checkpoint knows

    code, output = _verify(cli, database_url)
    assert code == 1
    assert "6 events, 2 items, all chains intact" in output
    assert f"item {codes[0]}: checkpoint 1 recorded event 3 as " in output
    assert "the history was rewritten" in output


def test_a_forged_signature_fails(cli: CliRunner, database_url: str, backend: str) -> None:
    seed(database_url, lots=2)
    line = _checkpoint(cli, database_url)
    # Someone without the server's key re-signs the statement with a key of their own.
    exported = [entry for _, entry in read([orjson.dumps(line)])]
    assert isinstance(exported[0], Signed)
    forged = sign(exported[0].statement, Ed25519PrivateKey.generate())
    tamper(database_url, backend, f"UPDATE audit_checkpoint SET signature = '{forged}'")  # noqa: S608

    code, output = _verify(cli, database_url)
    assert code == 1
    assert "checkpoint 1 has a forged signature: it does not verify with key 1" in output


def test_an_altered_checkpoint_fails(cli: CliRunner, database_url: str, backend: str) -> None:
    seed(database_url, lots=2)
    _checkpoint(cli, database_url)
    tamper(database_url, backend, "UPDATE audit_checkpoint SET events = events - 1")
    code, output = _verify(cli, database_url)
    assert code == 1
    assert "checkpoint 1 was altered: its hash does not match its content" in output


def test_a_checkpoint_removed_from_the_database_is_found_in_the_file(
    cli: CliRunner, database_url: str, backend: str, tmp_path: Path
) -> None:
    codes = seed(database_url, lots=3)
    _checkpoint(cli, database_url)
    edit(database_url, codes[2], times=3)
    _checkpoint(cli, database_url)
    export = tmp_path / "offsite.jsonl"
    _export(cli, database_url, export)
    # The attacker removes the newer checkpoint with the events it vouched for.
    victim = _item_id(database_url, codes[2])
    tamper(
        database_url,
        backend,
        "DELETE FROM audit_checkpoint_head WHERE checkpoint_id = 2",
        "DELETE FROM audit_checkpoint WHERE id = 2",
        *rewind(victim, 3),
    )
    code, output = _verify(cli, database_url)
    assert code == 0, output  # the database alone is consistent again

    code, output = _verify(cli, database_url, "--checkpoints", str(export))
    assert code == 1
    assert "checkpoint 2 (kept in offsite.jsonl, made " in output
    assert "is missing from the database: it was removed" in output
    assert (
        f"item {codes[2]}: checkpoint 2 (kept in offsite.jsonl) recorded 6 events ending "
    ) in output


def test_removed_head_rows_are_found(cli: CliRunner, database_url: str, backend: str) -> None:
    codes = seed(database_url, lots=3)
    _checkpoint(cli, database_url)
    victim = _item_id(database_url, codes[0])
    tamper(
        database_url,
        backend,
        f"DELETE FROM audit_checkpoint_head WHERE item_id = {victim}",  # noqa: S608
        *rewind(victim, 1),
    )
    code, output = _verify(cli, database_url)
    assert code == 1
    assert "checkpoint 1: the 3 heads it recorded were removed or altered in the database" in output


def test_events_moved_past_the_cutoff_are_found(
    cli: CliRunner, database_url: str, backend: str
) -> None:
    seed(database_url, lots=2)
    _checkpoint(cli, database_url)
    # Renumbering an item's last event changes no hash and no stored head, but the past no
    # longer adds up: up to the cutoff, that item's chain now ends one event earlier.
    tamper(database_url, backend, "UPDATE event SET id = id + 1000 WHERE id = 6")
    code, output = _verify(cli, database_url)
    assert code == 1
    assert "checkpoint 1: the events up to #6 no longer give the heads it signed" in output


def test_a_file_that_is_not_an_export_is_refused(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    seed(database_url, lots=1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "checkpoint", "v": 1}\n')
    code, output = _verify(cli, database_url, "--checkpoints", str(bad))
    assert code == 1
    assert "bad.jsonl is not a checkpoints export: line 1:" in output


@pytest.mark.parametrize(
    "sql", ["UPDATE audit_checkpoint SET events = 0", "DELETE FROM audit_checkpoint"]
)
def test_checkpoints_are_append_only(cli: CliRunner, database_url: str, sql: str) -> None:
    seed(database_url, lots=1)
    _checkpoint(cli, database_url)
    with pytest.raises(Exception, match="append-only"):
        query(database_url, sql)
    assert query(database_url, "SELECT count(*) FROM audit_checkpoint")[0][0] == 1


def test_a_checkpoint_cut_from_the_middle_breaks_their_chain(
    cli: CliRunner, database_url: str, backend: str
) -> None:
    codes = seed(database_url, lots=2)
    for lot in (codes[0], codes[1], codes[0]):
        _checkpoint(cli, database_url)
        edit(database_url, lot)
    tamper(database_url, backend, "DELETE FROM audit_checkpoint WHERE id = 2")
    code, output = _verify(cli, database_url)
    assert code == 1
    problems = output.split("BROKEN against the signed checkpoints:")[1].strip().splitlines()
    assert problems == ["checkpoint 2 is missing from the database"]
