"""`qtrack categories`, `qtrack stock` and `qtrack alerts`, as an administrator runs them."""

from datetime import timedelta

from typer.testing import CliRunner

from qtrack.core.clock import utcnow
from tests.accounts.test_cli import create_user, ok, qtrack
from tests.items.test_cli import fails, register


def test_categories_levels_and_alerts_from_the_command_line(
    cli: CliRunner, database_url: str
) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    create_user(cli, database_url, "vera", "--role", "viewer")
    out = ok(qtrack(cli, database_url, "categories", "add", "consumables", "--name", "Consumables"))
    assert out.strip() == "created category Consumables"
    ok(qtrack(cli, database_url, "categories", "add", "syringes", "--name", "Syringes",
              "--parent", "consumables"))  # fmt: skip
    listed = ok(qtrack(cli, database_url, "categories", "list"))
    assert "syringes     Consumables \u203a Syringes" in listed
    fails(cli, database_url, "categories", "add", "x", "--name", "X", "--parent", "nope",
          code="category_not_found")  # fmt: skip
    fails(cli, database_url, "categories", "archive", "consumables", code="category_not_empty")

    (lot,) = register(cli, database_url, "--type", "supply", "--quantity", "12", "--as", "op")
    out = ok(qtrack(cli, database_url, "stock", "levels", "supply", "--reorder", "10"))
    assert "supply  everywhere  12 pcs" in out
    assert out.splitlines()[1].split()[-1] == "ok"
    fails(cli, database_url, "stock", "levels", "supply", "--minimum", "5", "--reorder", "1",
          code="validation_error")  # fmt: skip
    ok(qtrack(cli, database_url, "items", "quantity", lot, "dispense", "3", "--as", "op"))
    low = ok(qtrack(cli, database_url, "stock", "list", "--low"))
    assert "supply  everywhere  9 pcs" in low
    assert low.splitlines()[1].split()[-1] == "low"
    alerts = ok(qtrack(cli, database_url, "alerts", "list"))
    assert "stock_low  Supply is low on stock: 9 pcs on hand (reorder at 10)" in alerts
    alert_id = alerts.splitlines()[1].split()[0]
    fails(cli, database_url, "alerts", "ack", alert_id, "--as", "vera", code="permission_denied")
    seen = ok(qtrack(cli, database_url, "alerts", "ack", alert_id, "--as", "op"))
    assert "  op  " in seen
    assert ok(qtrack(cli, database_url, "alerts", "list", "--state", "pending")).strip() == (
        "no alerts"
    )


def test_an_item_type_is_put_in_a_category_and_marked_critical(
    cli: CliRunner, database_url: str
) -> None:
    ok(qtrack(cli, database_url, "categories", "add", "consumables", "--name", "Consumables"))
    ok(qtrack(cli, database_url, "categories", "add", "syringes", "--name", "Syringes",
              "--parent", "consumables"))  # fmt: skip
    out = ok(qtrack(cli, database_url, "categories", "assign", "supply", "syringes", "--critical"))
    assert out == "supply: category syringes (Consumables \u203a Syringes), critical\n"
    listed = ok(qtrack(cli, database_url, "stock", "list", "--category", "consumables"))
    assert "supply" in listed
    assert "material" not in listed
    out = ok(qtrack(cli, database_url, "categories", "assign", "supply", "--not-critical"))
    assert out == "supply: category syringes (Consumables \u203a Syringes)\n"
    out = ok(qtrack(cli, database_url, "categories", "assign", "supply", "--clear"))
    assert out == "supply: no category\n"
    fails(cli, database_url, "categories", "assign", "supply", "nope", code="category_not_found")
    fails(cli, database_url, "categories", "assign", "nope", "syringes",
          code="item_type_not_found")  # fmt: skip


def test_items_are_listed_by_category_and_expiry_from_the_command_line(
    cli: CliRunner, database_url: str
) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    ok(qtrack(cli, database_url, "categories", "add", "consumables", "--name", "Consumables"))
    ok(qtrack(cli, database_url, "categories", "add", "syringes", "--name", "Syringes",
              "--parent", "consumables"))  # fmt: skip
    ok(qtrack(cli, database_url, "categories", "assign", "supply", "syringes"))
    made = {}
    for name, offset in (("gone", -2), ("week", 5), ("month", 20), ("later", 90)):
        when = (utcnow().date() + timedelta(days=offset)).isoformat()
        (made[name],) = register(
            cli, database_url, "--type", "supply", "--quantity", "5", "--expiry", when,
            "--batch", f"B-{name}", "--as", "op",
        )  # fmt: skip
    (kit,) = register(cli, database_url, "--type", "material", "--as", "op")

    def codes(*args: str) -> list[str]:
        out = ok(qtrack(cli, database_url, "items", "list", *args))
        rows = [ln.split()[0] for ln in out.splitlines()[1:] if not ln.startswith("(")]
        return [] if out == "no items\n" else rows

    everything = sorted([*made.values(), kit])
    assert codes() == everything
    for key in ("consumables", "syringes"):  # a category and those under it
        assert codes("--category", key) == sorted(made.values())
    assert codes("--expired") == [made["gone"]]
    assert codes("--expiring-within", "10") == [made["week"]]
    assert codes("--expiring-soon") == sorted([made["week"], made["month"]])  # 30 days
    assert codes("--category", "consumables", "--batch", "B-later") == [made["later"]]
    assert codes("--type", "material") == [kit]
    shown = ok(qtrack(cli, database_url, "items", "list", "--expired"))
    assert shown.splitlines()[0].split() == [
        "CODE", "TYPE", "STATUS", "LOCATION", "QUANTITY", "BATCH", "EXPIRES",
    ]  # fmt: skip
    assert "5 pcs" in shown
    assert "B-gone" in shown
    assert codes("--limit", "2") == everything[:2]
    assert ok(qtrack(cli, database_url, "items", "list", "--limit", "2")).endswith(
        "(the first 2; --limit shows more)\n"
    )
    fails(cli, database_url, "items", "list", "--category", "nope", code="category_not_found")
    fails(cli, database_url, "items", "list", "--location", "NOWHERE", code="location_not_found")
    # The expiry list takes a window of N days instead of each type's own.
    out = ok(qtrack(cli, database_url, "expiry", "list", "--within-days", "10"))
    expired, within = out.split("expiring within 10 days")
    assert made["gone"] in expired
    assert made["week"] in within
    assert made["month"] not in within


def test_a_category_is_renamed_and_moved_from_the_command_line(
    cli: CliRunner, database_url: str
) -> None:
    for key, name in (("consumables", "Consumables"), ("wound", "Wound care")):
        ok(qtrack(cli, database_url, "categories", "add", key, "--name", name))
    ok(qtrack(cli, database_url, "categories", "add", "gauze", "--name", "Gauze",
              "--parent", "consumables"))  # fmt: skip
    out = ok(qtrack(cli, database_url, "categories", "edit", "gauze", "--parent", "wound",
                    "--name", "Gauze swabs"))  # fmt: skip
    assert out == "category gauze: Wound care \u203a Gauze swabs\n"
    out = ok(qtrack(cli, database_url, "categories", "edit", "wound", "--parent", "consumables"))
    assert out == "category wound: Consumables \u203a Wound care\n"
    listed = ok(qtrack(cli, database_url, "categories", "list"))
    assert "Consumables \u203a Wound care \u203a Gauze swabs" in listed
    out = ok(qtrack(cli, database_url, "categories", "edit", "wound", "--top"))
    assert out == "category wound: Wound care\n"
    fails(cli, database_url, "categories", "edit", "wound", "--parent", "gauze",
          code="category_cycle")  # fmt: skip
    fails(cli, database_url, "categories", "edit", "nope", "--name", "X", code="category_not_found")
    fails(cli, database_url, "categories", "edit", "wound", code="validation_error")
    fails(cli, database_url, "categories", "edit", "wound", "--top", "--parent", "gauze",
          code="validation_error")  # fmt: skip
    fails(cli, database_url, "categories", "edit", "wound", "--name", "", code="validation_error")
