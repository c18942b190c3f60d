"""`qtrack shipments`, run as a biller and a dispatcher would."""

from pathlib import Path

from typer.testing import CliRunner

from tests.accounts.test_cli import create_user, ok, qtrack
from tests.items.test_cli import fails, register


def test_build_dispatch_and_print_a_bill(cli: CliRunner, database_url: str, tmp_path: Path) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    create_user(cli, database_url, "bill", "--role", "biller")
    create_user(cli, database_url, "dee", "--role", "dispatcher")
    bags = register(cli, database_url, "--type", "bag", "--count", "2", "--as", "op")
    for bag in bags:
        ok(qtrack(cli, database_url, "items", "transition", bag, "seal", "--as", "op"))
    out = ok(
        qtrack(cli, database_url, "shipments", "create", "--consignee", "ACME", "--as", "bill")
    )
    assert out.startswith("SHP-000001  draft  ACME")
    out = ok(qtrack(cli, database_url, "shipments", "add", "SHP-000001", *bags, "--as", "bill"))
    assert "containers: 2" in out
    fails(
        cli,
        database_url,
        "shipments",
        "dispatch",
        "SHP-000001",
        "--as",
        "bill",
        code="permission_denied",
    )
    ok(qtrack(cli, database_url, "shipments", "issue", "shp-000001", "--as", "bill"))
    out = ok(qtrack(cli, database_url, "shipments", "dispatch", "SHP-000001", "--as", "dee"))
    assert out.startswith("SHP-000001  dispatched")
    assert out.count("dispatched") == 3
    fails(
        cli,
        database_url,
        *("shipments", "add", "SHP-000001", bags[0], "--as", "bill"),
        code="shipment_not_editable",
    )
    pdf = tmp_path / "bill.pdf"
    ok(qtrack(cli, database_url, "shipments", "bill", "SHP-000001", "-o", str(pdf)))
    assert pdf.read_bytes().startswith(b"%PDF")
    listed = ok(qtrack(cli, database_url, "shipments", "list", "--status", "dispatched"))
    assert "SHP-000001" in listed
