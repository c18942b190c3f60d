"""`qtrack orders`, run as an operator and a supervisor would."""

from pathlib import Path

from typer.testing import CliRunner

from tests.accounts.test_cli import create_user, ok, qtrack
from tests.items.test_cli import fails


def test_draft_approve_receive_and_print_an_order(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    create_user(cli, database_url, "sue", "--role", "supervisor")
    out = ok(
        qtrack(
            cli, database_url, "orders", "create", "--supplier", "MedCo",
            "--line", "supply:10:SYR-5ML", "--as", "op",
        )
    )  # fmt: skip
    assert out.startswith("ORD-000001  draft  MedCo")
    out = ok(
        qtrack(cli, database_url, "orders", "add-line", "ORD-000001", "bag", "2", "--as", "op")
    )
    assert "2  bag" in out
    ok(qtrack(cli, database_url, "orders", "submit", "ord-000001", "--as", "op"))
    fails(
        cli, database_url, "orders", "approve", "ORD-000001", "--as", "op",
        code="permission_denied",
    )  # fmt: skip
    ok(qtrack(cli, database_url, "orders", "approve", "ORD-000001", "--as", "sue"))
    fails(
        cli, database_url, "orders", "receive", "ORD-000001", "--line", "1",
        "--quantity", "11", "--as", "op", code="over_receive_reason_required",
    )  # fmt: skip
    for expiry in ("2026-13-45", "soon"):  # read by the schema, as `items register` reads it
        fails(
            cli, database_url, "orders", "receive", "ORD-000001", "--line", "1",
            "--quantity", "1", "--expiry", expiry, "--as", "op", code="validation_error",
        )  # fmt: skip
    out = ok(
        qtrack(
            cli, database_url, "orders", "receive", "ORD-000001",
            "--data", "(01)09506000134352(17)271231(10)LOT1", "--line", "1",
            "--quantity", "10", "--as", "op",
        )
    )  # fmt: skip
    assert out.startswith("received: SUP-000001\nORD-000001  partly_received")
    listed = ok(qtrack(cli, database_url, "orders", "list", "--status", "partly_received"))
    assert "ORD-000001" in listed
    out = ok(
        qtrack(
            cli, database_url, "orders", "receive", "ORD-000001", "--line", "1",
            "--quantity", "1", "--expiry", "2027-06-30", "--reason", "one spare", "--as", "op",
        )
    )  # fmt: skip
    assert out.startswith("received: SUP-000002")
    assert "2027-06-30" in ok(qtrack(cli, database_url, "items", "show", "SUP-000002"))
    pdf, sheet = tmp_path / "o.pdf", tmp_path / "o.csv"
    ok(qtrack(cli, database_url, "orders", "print", "ORD-000001", "-o", str(pdf)))
    ok(qtrack(cli, database_url, "orders", "print", "ORD-000001", "-o", str(sheet)))
    assert pdf.read_bytes().startswith(b"%PDF")
    assert "supply" in sheet.read_text()
    shown = ok(qtrack(cli, database_url, "orders", "show", "ORD-000001"))
    assert "SYR-5ML" in shown
    # The second line (2 bags) never comes: closed with a reason, by whoever may cancel.
    fails(cli, database_url, "orders", "close", "ORD-000001", "--reason", "gone", "--as", "op",
          code="permission_denied")  # fmt: skip
    fails(cli, database_url, "orders", "close", "ORD-000001", "--reason", " ", "--as", "sue",
          code="reason_required")  # fmt: skip
    out = ok(
        qtrack(
            cli, database_url, "orders", "close", "ORD-000001", "--reason",
            "bags discontinued", "--as", "sue",
        )
    )  # fmt: skip
    assert out.startswith("ORD-000001  closed")


def test_a_draft_line_is_changed_from_the_command_line(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    ok(qtrack(cli, database_url, "orders", "create", "--line", "supply:10", "--as", "op"))
    out = ok(
        qtrack(
            cli, database_url, "orders", "change-line", "ORD-000001", "1", "--quantity", "40",
            "--supplier-ref", "SYR-5ML", "--as", "op",
        )
    )  # fmt: skip
    (line,) = [x for x in out.splitlines() if x.startswith("1 ")]
    assert line.split()[:5] == ["1", "supply", "SYR-5ML", "pcs", "40"]
    fails(cli, database_url, "orders", "change-line", "ORD-000001", "1", "--as", "op",
          code="validation_error")  # fmt: skip
    fails(cli, database_url, "orders", "change-line", "ORD-000001", "1", "--quantity", "0",
          "--as", "op", code="validation_error")  # fmt: skip
    fails(cli, database_url, "orders", "change-line", "ORD-000001", "5", "--quantity", "2",
          "--as", "op", code="order_line_not_found")  # fmt: skip
    ok(qtrack(cli, database_url, "orders", "submit", "ORD-000001", "--as", "op"))
    fails(cli, database_url, "orders", "change-line", "ORD-000001", "1", "--quantity", "2",
          "--as", "op", code="order_not_editable")  # fmt: skip
