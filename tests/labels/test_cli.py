"""`qtrack keys` and `qtrack labels`, run as an admin would."""

from pathlib import Path

import pypdfium2
from typer.testing import CliRunner

from qtrack.codes.decode import decode_image
from qtrack.signing import keys
from tests.test_cli import invoke


def _setup(cli: CliRunner, url: str) -> list[str]:
    env = {"QTRACK_DATABASE_URL": url}
    assert (
        invoke(
            cli,
            ["users", "create", "op", "--role", "operator", "--password", "a long password"],
            **env,
        ).exit_code
        == 0
    )
    result = invoke(
        cli,
        ["items", "register", "--type", "material", "--name", "Talc", "--count", "3", "--as", "op"],
        **env,
    )
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_keys_lifecycle(cli: CliRunner, database_url: str) -> None:
    keys.forget_cached_keys()
    env = {"QTRACK_DATABASE_URL": database_url}
    assert "no keys yet" in invoke(cli, ["keys", "list"], **env).output
    created = invoke(cli, ["keys", "create"], **env)
    assert created.exit_code == 0
    assert created.output.strip() == "key 1 is active"
    again = invoke(cli, ["keys", "create"], **env)
    assert again.exit_code == 1
    assert "key_state_conflict" in again.stderr
    rotated = invoke(cli, ["keys", "rotate"], **env)
    assert rotated.output.startswith("key 2 is active")
    listing = invoke(cli, ["keys", "list"], **env).output
    assert "verifying" in listing
    assert "active" in listing
    assert invoke(cli, ["keys", "retire", "2"], **env).exit_code == 1  # the active key
    assert invoke(cli, ["keys", "retire", "1"], **env).output.strip() == "key 1 is retired"
    assert "key_not_found" in invoke(cli, ["keys", "retire", "99"], **env).stderr


def test_print_to_pdf_and_zpl(cli: CliRunner, database_url: str, tmp_path: Path) -> None:
    codes = _setup(cli, database_url)
    env = {"QTRACK_DATABASE_URL": database_url}
    sheet = tmp_path / "labels.pdf"
    result = invoke(
        cli,
        [
            "labels",
            "print",
            "--items",
            ",".join(codes),
            "--template",
            "roll-50x30",
            "--out",
            str(sheet),
        ],
        **env,
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote 3 labels to {sheet}"
    document = pypdfium2.PdfDocument(str(sheet))
    assert len(document) == 3
    page = document[0].render(scale=300 / 72).to_pil()
    buffer = __import__("io").BytesIO()
    page.save(buffer, format="PNG")
    [symbol] = decode_image(buffer.getvalue(), max_pixels=50_000_000)
    assert "/Q/" in symbol.text
    document.close()

    thermal = tmp_path / "labels.zpl"
    assert (
        invoke(
            cli, ["labels", "print", "--items", codes[0], "--out", str(thermal)], **env
        ).exit_code
        == 0
    )
    assert thermal.read_text().count("^XA") == 1
    assert (
        invoke(
            cli, ["labels", "print", "--items", "MAT-424242", "--out", str(thermal)], **env
        ).exit_code
        == 1
    )
    assert (
        invoke(
            cli, ["labels", "print", "--out", str(tmp_path / "x.txt"), "--items", codes[0]], **env
        ).exit_code
        == 1
    )


def test_warm_signs_missing_labels_and_fills_redis(
    cli: CliRunner, database_url: str, redis_url: str
) -> None:
    _setup(cli, database_url)
    result = invoke(
        cli, ["labels", "warm"], QTRACK_DATABASE_URL=database_url, QTRACK_REDIS_URL=redis_url
    )
    assert result.exit_code == 0, result.output
    assert "signed 0 new labels" in result.output  # registration already signed them
    assert "rendered 3 QR images into Redis" in result.output
