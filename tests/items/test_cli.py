"""`qtrack items`, `qtrack locations` and `qtrack stats`, run as people on the floor would."""

import re

import pytest
from typer.testing import CliRunner

from tests.accounts.test_cli import GOOD_PASSWORD, create_user, ok, qtrack, table


def add_locations(cli: CliRunner, url: str) -> None:
    """PLANT > WH-A, WH-B."""
    ok(qtrack(cli, url, "locations", "add", "plant", "--name", "Plant", "--kind", "site"))
    for code in ("WH-A", "WH-B"):
        ok(
            qtrack(
                cli,
                url,
                *("locations", "add", code, "--name", f"Warehouse {code[-1]}"),
                *("--kind", "building", "--parent", "PLANT"),
            )
        )


def register(cli: CliRunner, url: str, *options: str) -> list[str]:
    """Register items; returns the codes printed."""
    return ok(qtrack(cli, url, "items", "register", *options)).splitlines()


def show(cli: CliRunner, url: str, code: str) -> dict[str, str]:
    """`items show` as a dict; checks that the values line up in one column."""
    lines = ok(qtrack(cli, url, "items", "show", code)).splitlines()
    starts = set()
    for line in lines:
        match = re.match(r"[a-z_]+: +", line)
        assert match, line
        starts.add(match.end())
    assert len(starts) == 1, lines
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def fails(cli: CliRunner, url: str, *args: str, code: str, stdin: str | None = None) -> None:
    """The command exits 1 with `error: CODE: ...` on one stderr line and prints nothing else."""
    result = qtrack(cli, url, *args, stdin=stdin)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {code}: "), result.stderr
    assert len(result.stderr.splitlines()) == 1


def audit(cli: CliRunner, url: str) -> str:
    """The first line of `qtrack audit verify` (the second speaks of checkpoints)."""
    return ok(qtrack(cli, url, "audit", "verify")).splitlines()[0]


def test_help_lists_the_tracking_commands(cli: CliRunner) -> None:
    out = ok(qtrack(cli, "sqlite+aiosqlite:///unused.db", "--help"))
    for command in ("items", "locations", "stats"):
        assert command in out


def test_register_prints_the_codes_and_show_prints_the_item(
    cli: CliRunner, database_url: str
) -> None:
    create_user(cli, database_url, "qa", "--role", "supervisor")
    add_locations(cli, database_url)

    codes = register(
        cli,
        database_url,
        *("--type", "material", "--name", "Lactose", "--batch", "B-17", "--quantity", "25"),
        *("--location", "wh-a", "--count", "3", "--expiry", "2027-03-31", "--as", "qa"),
    )

    assert codes == ["MAT-000001", "MAT-000002", "MAT-000003"]
    assert register(cli, database_url, "--type", "bag", "--as", "QA") == ["BAG-000001"]
    item = show(cli, database_url, "mat-000002")
    assert item["code"] == "MAT-000002"
    assert item["type"] == "material"
    assert item["name"] == "Lactose"
    assert item["status"] == "received (Received)"
    assert item["location"] == "WH-A"
    assert item["container"] == "-"
    assert item["quantity"] == "25 kg"
    assert item["batch"] == "B-17"
    assert item["expiry"] == "2027-03-31"
    assert item["version"] == "1"
    history = table(ok(qtrack(cli, database_url, "items", "history", "MAT-000002")))
    assert [(e["SEQ"], e["TYPE"], e["ACTOR"]) for e in history] == [("1", "created", "qa")]
    assert "location=WH-A" in history[0]["CHANGE"]
    assert audit(cli, database_url) == "4 events, 4 items, all chains intact"


def test_packed_items_follow_their_container(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    add_locations(cli, database_url)
    (lot,) = register(cli, database_url, "--type", "material", "--location", "WH-A", "--as", "op")
    (bag,) = register(cli, database_url, "--type", "bag", "--location", "WH-B", "--as", "op")

    packed = ok(qtrack(cli, database_url, "items", "pack", lot, bag, "--as", "op"))

    assert packed.splitlines() == [
        f"{lot} #2 packed: container: -→{bag}, location: WH-A→WH-B",
        f"{bag} #2 content_added: item={lot}",  # the bag's own history says what went in
    ]
    assert (
        show(cli, database_url, lot)["location"],
        show(cli, database_url, lot)["container"],
    ) == (
        "WH-B",
        bag,
    )

    moved = ok(qtrack(cli, database_url, "items", "move", bag, "wh-a", "--as", "op"))

    assert moved.splitlines() == [
        f"{bag} #3 moved: location: WH-B→WH-A",
        f"{lot} #3 moved: location: WH-B→WH-A, with={bag}; reason: moved with {bag}",
    ]
    assert show(cli, database_url, lot)["location"] == "WH-A"

    ok(qtrack(cli, database_url, "items", "unpack", lot, "--as", "op"))

    item = show(cli, database_url, lot)
    assert (item["location"], item["container"]) == ("WH-A", "-")
    again = ok(qtrack(cli, database_url, "items", "move", lot, "WH-A", "--as", "op"))
    assert again.strip() == f"{lot}: nothing to change"
    # Two created, packed and the bag's content_added, two moved, unpacked and the bag's
    # content_removed; the move to where the lot already was records nothing.
    assert audit(cli, database_url) == "8 events, 2 items, all chains intact"


def test_a_lot_is_released_by_a_second_person_who_signs(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "qa", "--role", "supervisor")
    create_user(cli, database_url, "qa2", "--role", "supervisor")
    (lot,) = register(cli, database_url, "--type", "material", "--as", "qa")
    ok(qtrack(cli, database_url, "items", "transition", lot, "quarantine", "--as", "qa"))
    ok(qtrack(cli, database_url, "items", "transition", lot, "start_test", "--as", "qa"))
    release = ("items", "transition", lot, "release")

    # The person who started the test may not release; the releaser must sign.
    fails(
        cli,
        database_url,
        *release,
        "--as",
        "qa",
        "--password-stdin",
        stdin=GOOD_PASSWORD,
        code="same_person",
    )
    fails(cli, database_url, *release, "--as", "qa2", code="signature_required")
    fails(
        cli,
        database_url,
        *release,
        "--as",
        "qa2",
        "--password-stdin",
        stdin="not my password",
        code="signature_failed",
    )
    assert show(cli, database_url, lot)["status"] == "under_test (Under test)"

    out = ok(
        qtrack(cli, database_url, *release, "--as", "qa2", "--password-stdin", stdin=GOOD_PASSWORD)
    )

    assert out.startswith(f"{lot} #4 status_changed: status: under_test→released")
    assert "signed by qa2 (QA release)" in out
    assert GOOD_PASSWORD not in out
    assert show(cli, database_url, lot)["status"] == "released (Released)"
    history = table(ok(qtrack(cli, database_url, "items", "history", lot)))
    assert [(e["SEQ"], e["TYPE"], e["ACTOR"]) for e in history] == [
        ("4", "status_changed", "qa2"),
        ("3", "status_changed", "qa"),
        ("2", "status_changed", "qa"),
        ("1", "created", "qa"),
    ]
    assert history[0]["CHANGE"] == "status: under_test→released, transition=release"
    assert history[1]["CHANGE"] == "status: quarantine→under_test, transition=start_test"
    assert re.fullmatch(
        r"qa2 \(QA release\) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", history[0]["SIGNATURE"]
    )
    assert [e["SIGNATURE"] for e in history[1:]] == ["-", "-", "-"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", e["TIME (UTC)"]) for e in history)
    latest = table(ok(qtrack(cli, database_url, "items", "history", lot, "--limit", "2")))
    assert [e["SEQ"] for e in latest] == ["4", "3"]
    # The refused attempts left no events behind.
    assert audit(cli, database_url) == "4 events, 1 items, all chains intact"


def test_reasons_are_kept_in_the_history(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "qa", "--role", "supervisor")
    (lot,) = register(cli, database_url, "--type", "material", "--as", "qa")
    ok(qtrack(cli, database_url, "items", "transition", lot, "quarantine", "--as", "qa"))
    expire = ("items", "transition", lot, "expire", "--as", "qa")

    fails(cli, database_url, *expire, code="reason_required")
    ok(qtrack(cli, database_url, *expire, "--reason", "past its date"))

    latest = table(ok(qtrack(cli, database_url, "items", "history", lot, "--limit", "1")))
    assert (latest[0]["CHANGE"], latest[0]["REASON"]) == (
        "status: quarantine→expired, transition=expire",
        "past its date",
    )


def test_quantity_never_goes_below_zero(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    (lot,) = register(cli, database_url, "--type", "material", "--quantity", "25", "--as", "op")
    quantity = ("items", "quantity", lot)

    fails(
        cli, database_url, *quantity, "dispense", "30", "--as", "op", code="insufficient_quantity"
    )
    assert show(cli, database_url, lot)["quantity"] == "25 kg"

    out = ok(qtrack(cli, database_url, *quantity, "dispense", "2.5", "--as", "op"))

    assert out.startswith(f"{lot} #2 quantity_changed: quantity: 25→22.5")
    assert "kind=dispense, amount=2.5" in out
    ok(qtrack(cli, database_url, *quantity, "receive", "10", "--as", "op"))
    assert show(cli, database_url, lot)["quantity"] == "32.5 kg"
    fails(cli, database_url, *quantity, "adjust", "30", "--as", "op", code="reason_required")
    ok(qtrack(cli, database_url, *quantity, "adjust", "30", "--as", "op", "--reason", "recount"))
    assert show(cli, database_url, lot)["quantity"] == "30 kg"
    fails(cli, database_url, *quantity, "receive", "lots", "--as", "op", code="validation_error")
    spill = qtrack(cli, database_url, *quantity, "spill", "1", "--as", "op")
    assert spill.exit_code == 2  # not one of the four kinds: a usage error
    assert audit(cli, database_url) == "4 events, 1 items, all chains intact"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["items", "show", "MAT-999999"], "item_not_found"),
        (["items", "history", "NOPE"], "item_not_found"),
        (["items", "move", "MAT-999999", "WH-A", "--as", "qa"], "item_not_found"),
        (["items", "register", "--type", "material", "--as", "nobody"], "user_not_found"),
        (["items", "move", "MAT-000001", "WH-B", "--as", "nobody"], "user_not_found"),
        (["items", "register", "--type", "widget", "--as", "qa"], "item_type_not_found"),
        (
            ["items", "register", "--type", "bag", "--quantity", "3", "--as", "qa"],
            "validation_error",
        ),
        (
            ["items", "register", "--type", "material", "--expiry", "31/03/2027", "--as", "qa"],
            "validation_error",
        ),
        (
            ["items", "register", "--type", "material", "--count", "0", "--as", "qa"],
            "validation_error",
        ),
        (["items", "move", "MAT-000001", "NOWHERE", "--as", "qa"], "location_not_found"),
        (["items", "transition", "MAT-000001", "release", "--as", "qa"], "transition_not_allowed"),
        (["items", "transition", "MAT-000001", "quarantine", "--as", "vic"], "permission_denied"),
        (["items", "pack", "MAT-000001", "MAT-000001", "--as", "qa"], "not_a_container"),
        (["items", "quantity", "MAT-000001", "dispense", "1", "--as", "vic"], "permission_denied"),
        (["locations", "add", "X", "--name", "X", "--kind", "planet"], "validation_error"),
        (["locations", "add", "wh-a", "--name", "Again", "--kind", "zone"], "conflict"),
        (
            ["locations", "add", "Z", "--name", "Z", "--kind", "zone", "--parent", "NO"],
            "location_not_found",
        ),
    ],
)
def test_errors_exit_1_with_the_code_and_change_nothing(
    cli: CliRunner, database_url: str, args: list[str], code: str
) -> None:
    create_user(cli, database_url, "qa", "--role", "supervisor")
    create_user(cli, database_url, "vic", "--role", "viewer")
    ok(qtrack(cli, database_url, "locations", "add", "WH-A", "--name", "A", "--kind", "building"))
    register(cli, database_url, "--type", "material", "--location", "WH-A", "--as", "qa")
    tree = ok(qtrack(cli, database_url, "locations", "tree"))

    fails(cli, database_url, *args, code=code)

    assert audit(cli, database_url) == "1 events, 1 items, all chains intact"
    assert show(cli, database_url, "MAT-000001")["version"] == "1"
    assert ok(qtrack(cli, database_url, "locations", "tree")) == tree


def test_a_disabled_user_cannot_act(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    ok(qtrack(cli, database_url, "users", "disable", "op"))

    fails(
        cli, database_url, "items", "register", "--type", "bag", "--as", "op", code="user_disabled"
    )

    assert ok(qtrack(cli, database_url, "stats")).strip() == "no items"


def test_locations_tree_is_indented_under_parents(cli: CliRunner, database_url: str) -> None:
    assert ok(qtrack(cli, database_url, "locations", "tree")).strip() == "no locations"
    add_locations(cli, database_url)

    out = ok(
        qtrack(
            cli,
            database_url,
            *("locations", "add", "rack-1", "--name", "Rack 1", "--kind", "rack"),
            *("--parent", "wh-a"),
        )
    )

    assert out.strip() == "created location RACK-1 (rack) under WH-A"
    assert ok(qtrack(cli, database_url, "locations", "tree")).splitlines() == [
        "PLANT  Plant (site)",
        "  WH-A  Warehouse A (building)",
        "    RACK-1  Rack 1 (rack)",
        "  WH-B  Warehouse B (building)",
    ]


def test_stats_counts_by_type_status_and_location(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "qa", "--role", "supervisor")
    add_locations(cli, database_url)
    lot, _ = register(
        cli, database_url, "--type", "material", "--location", "WH-A", "--count", "2", "--as", "qa"
    )
    register(cli, database_url, "--type", "bag", "--location", "WH-B", "--as", "qa")
    register(cli, database_url, "--type", "supply", "--as", "qa")
    ok(qtrack(cli, database_url, "items", "transition", lot, "quarantine", "--as", "qa"))

    statuses, locations, total = ok(qtrack(cli, database_url, "stats")).split("\n\n")

    assert table(statuses) == [
        {"TYPE": "bag", "STATUS": "open", "ITEMS": "1"},
        {"TYPE": "material", "STATUS": "quarantine", "ITEMS": "1"},
        {"TYPE": "material", "STATUS": "received", "ITEMS": "1"},
        {"TYPE": "supply", "STATUS": "in_stock", "ITEMS": "1"},
    ]
    assert table(locations) == [
        {"LOCATION": "WH-A", "ITEMS": "2"},
        {"LOCATION": "WH-B", "ITEMS": "1"},
    ]
    assert total.strip() == "total: 4 items"
