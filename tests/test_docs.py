"""The README and docs/ say what a new user needs, and point only at files in the repo."""

import re
from pathlib import Path

import pytest

from qtrack.accounts.service import WeakPassword, check_password_rules
from qtrack.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documentation_points_only_at_files_in_the_repo(doc: Path) -> None:
    text = doc.read_text()
    assert "shared/" not in text
    targets = re.findall(r"\]\(([^)#]+)", text) + re.findall(r"`(\.\./[^`]+)`", text)
    for target in targets:
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc.name} points outside the repo: {target}"
        assert resolved.exists(), f"{doc.name} points at a missing file: {target}"


def test_readme_says_what_a_first_day_needs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "QTRACK_PUBLIC_BASE_URL" in readme
    assert "before you print the first label" in readme
    assert "QTRACK_PORT=8080" in readme
    assert "--port 8080" in readme
    assert "[docs/settings.md](docs/settings.md)" in readme
    assert "QTRACK_TRUSTED_PROXIES" in readme
    assert "qtrack roles list" in readme
    assert "--debug" in readme


def test_readme_states_the_password_rules_the_code_applies() -> None:
    readme = (ROOT / "README.md").read_text()
    rules = readme.split("### Password rules", 1)[1].split("##", 1)[0]
    settings = Settings(_env_file=None)
    assert f"({settings.password_min_length} unless you change it)" in rules
    assert "not contain the username" in rules
    assert "no line break, tab or other control character" in rules
    with pytest.raises(WeakPassword, match="control characters"):
        check_password_rules(settings, "ann", "two lines,\nten or more")
    example = re.search(r"`(\S+)` is refused for `(\w+)`", rules)
    assert example, rules
    with pytest.raises(WeakPassword, match="must not contain the username"):
        check_password_rules(settings, example.group(2), example.group(1))


def test_make_run_shows_progress_while_installing() -> None:
    makefile = (ROOT / "Makefile").read_text()
    install = makefile.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "--quiet" not in install
    assert "-q " not in install
    assert install.count("@echo") >= 2
