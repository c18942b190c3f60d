"""GS1 data read as strictly as GS1's Barcode Syntax Engine: its own test cases and the GS1
Digital Link standard's examples, both the valid ones (accepted) and the invalid ones (refused
with a stable code and the AI).

Sources: the unit tests of GS1's syntax engine (github.com/gs1/gs1-syntax-engine, src/c-lib:
ai.c `test_ai_processAIdata` and `test_ai_validateAIassociations`, dl.c `test_dl_parseDLuri`,
whose "Examples from DL specification" are the GS1 Digital Link standard's own). There "^"
is FNC1: in first position it is the symbology's, elsewhere a scanner sends GS.
"""

import pytest

from qtrack.codes import gs1_link
from qtrack.codes.gs1 import parse_digital_link, parse_element_string, parse_hri
from qtrack.codes.gs1_syntax import GS, BadGs1, Gs1Error, Gs1SyntaxError, NotGs1


def _scan(engine_data: str) -> str:
    """The engine's "^..." test data as a scanner sends it (FNC1 in first dropped, GS)."""
    return engine_data.removeprefix("^").replace("^", GS)


@pytest.mark.parametrize(
    "data",
    [
        "^991234",
        "^0112345678901231",
        "^0112345678901231^",  # a superfluous FNC1 is tolerated
        "^0112345678901231991234",  # fixed length, runs into the next AI
        "^0112345678901231^991234",
        "^2421",  # N..6
        "^242123456",
        "^242123456^10ABC123",
        "^242123456^",
        "^81111234",  # N4, FNC1 required
        "^81111234^10ABC123",
        "^800112341234512398",
        "^800112341234512398^0112345678901231",
        "^7007211225211231",  # N6 [N6]
        "^7007211225",
        "^800302112345678900ABC",  # N1 N13,csum [X..16]
        "^800302112345678900",
        "^800302112345678900^10ABC123",
        "^800302112345678900ABCDEFGHIJKLMNOP",
        "^7230121234567890123456789012345678",  # X2 X..28
        "^7230123",
        # repeated AIs with the same value
        "^400ABC^400ABC",
        "^400ABC^99DEF^400ABC",
        "^99ABC^400XYZ^400XYZ",
    ],
)
def test_engine_accepts(data: str) -> None:
    parse_element_string(_scan(data))


@pytest.mark.parametrize(
    ("data", "error", "code", "ai"),
    [
        ("^99~ABC", NotGs1, "gs1_invalid_value", "99"),  # ~ is not in CSET 82
        ("^99ABC~", NotGs1, "gs1_invalid_value", "99"),
        ("^01A2345678901231", NotGs1, "gs1_invalid_value", "01"),
        ("^011234567890123A", NotGs1, "gs1_invalid_value", "01"),
        ("^0112345678901234", BadGs1, "gs1_check_digit", "01"),
        ("^011234567890123", NotGs1, "gs1_value_too_short", "01"),
        ("^01123456789012312", Gs1SyntaxError, "gs1_unknown_ai", None),  # "2" is no AI
        ("^011234567890123^", NotGs1, "gs1_value_too_short", "01"),
        ("^891234", NotGs1, "gs1_unknown_ai", None),
        ("^2421234567", NotGs1, "gs1_value_too_long", "242"),
        ("^8111123", NotGs1, "gs1_value_too_short", "8111"),
        ("^811112345", NotGs1, "gs1_value_too_long", "8111"),
        ("^80011234123451239", NotGs1, "gs1_value_too_short", "8001"),
        ("^8001123412345123981", NotGs1, "gs1_value_too_long", "8001"),
        ("^0112345678901231^80011234123451239", Gs1SyntaxError, "gs1_value_too_short", "8001"),
        ("^70072112252", NotGs1, "gs1_invalid_value", "7007"),  # neither 6 nor 12 digits
        ("^70072112252112", NotGs1, "gs1_invalid_value", "7007"),
        ("^70072112252212311", NotGs1, "gs1_value_too_long", "7007"),
        ("^800302112345678901ABC", BadGs1, "gs1_check_digit", "8003"),
        ("^800302112345678900ABCDEFGHIJKLMNOPQ", NotGs1, "gs1_value_too_long", "8003"),
        ("^72301212345678901234567890123456789", NotGs1, "gs1_value_too_long", "7230"),
        ("^723012", NotGs1, "gs1_value_too_short", "7230"),
        # the same AI twice with different values
        ("^400ABC^400AB", Gs1SyntaxError, "gs1_duplicate_ai", "400"),
        ("^400ABC^400ABCD", Gs1SyntaxError, "gs1_duplicate_ai", "400"),
        ("^400ABC^400ABC^400XYZ", Gs1SyntaxError, "gs1_duplicate_ai", "400"),
        ("^400ABC^99DEF^400XYZ", Gs1SyntaxError, "gs1_duplicate_ai", "400"),
        # what the issue found accepted: a batch longer than AI (10) allows, read by biip as
        # 20 characters and an AI (17) that was never there
        (
            "^0109506000134352" + "10ABCDEFGHIJKLMNOPQRST17271231",
            Gs1SyntaxError,
            "gs1_value_too_long",
            "10",
        ),
        ("^0109506000134352" + "10LOT1^10LOT2", Gs1SyntaxError, "gs1_duplicate_ai", "10"),
    ],
)
def test_engine_refuses(data: str, error: type[Gs1Error], code: str, ai: str | None) -> None:
    with pytest.raises(Gs1Error) as refused:
        parse_element_string(_scan(data))
    assert type(refused.value) is error
    assert (refused.value.code, refused.value.ai) == (code, ai)
    if ai is not None and code != "gs1_check_digit":  # those say "GTIN ..." as before
        assert f"({ai})" in str(refused.value)


@pytest.mark.parametrize(
    ("data", "code", "ai"),
    [
        ("(400)ABC(400)AB", "gs1_duplicate_ai", "400"),
        ("(01)09506000134352(10)A(10)B", "gs1_duplicate_ai", "10"),
        ("(01)09506000134352(10)ABCDEFGHIJKLMNOPQRSTU", "gs1_value_too_long", "10"),
        ("(01)09506000134352(4330)000000X", "gs1_invalid_value", "4330"),
    ],
)
def test_bracketed_refuses(data: str, code: str, ai: str) -> None:
    with pytest.raises(Gs1SyntaxError) as refused:
        parse_hri(data)
    assert (refused.value.code, refused.value.ai) == (code, ai)


def test_bracketed_repeat_with_the_same_value() -> None:
    assert parse_hri("(01)09506000134352(10)A(10)A").batch == "A"


ALL_KEYS = tuple(gs1_link.DL_KEY_QUALIFIERS)


@pytest.mark.parametrize(
    ("uri", "ais"),
    [
        # examples of the GS1 Digital Link standard
        ("https://id.gs1.org/01/09520123456788", ["01"]),
        ("https://brand.example.com/01/9520123456788", ["01"]),  # GTIN-13, padded
        ("https://brand.example.com/some-extra/pathinfo/01/9520123456788", ["01"]),
        ("https://id.gs1.org/01/09520123456788/22/2A", ["01", "22"]),
        ("https://id.gs1.org/01/09520123456788/10/ABC123", ["01", "10"]),
        ("https://id.gs1.org/01/09520123456788/21/12345", ["01", "21"]),
        (
            "https://id.gs1.org/01/09520123456788/10/ABC1/21/12345?17=180426",
            ["01", "10", "21", "17"],
        ),
        ("https://id.gs1.org/01/09520123456788?3103=000195", ["01", "3103"]),
        (
            "https://example.com/01/9520123456788?3103=000195&3922=0299&17=201225",
            ["01", "3103", "3922", "17"],
        ),
        ("https://id.gs1.org/00/952012345678912345", ["00"]),
        (
            "https://id.gs1.org/00/952012345678912345?02=09520123456788&37=25&10=ABC123",
            ["00", "02", "37", "10"],
        ),
        ("https://id.gs1.org/414/9520123456788", ["414"]),
        ("https://id.gs1.org/414/9520123456788/254/32a%2Fb", ["414", "254"]),
        ("https://example.com/8004/9520614141234567?01=9520123456788", ["8004", "01"]),
        # the engine's own
        ("https://a/01/12312312312333/22/TEST/10/ABC/21/XYZ", ["01", "22", "10", "21"]),
        ("https://a/01/12312312312333/235/TEST", ["01", "235"]),
        ("https://id.gs1.org/01/09520123456788/235/XYZ?10=ABC123", ["01", "235", "10"]),
        ("https://a/253/1231231231232TEST5678901234567", ["253"]),
        ("https://a/8018/123456789012345675/8019/123", ["8018", "8019"]),
        ("https://a/00/faux/00/006141411234567890", ["00"]),  # the rightmost key counts
        ("https://a/stem/00/006141411234567890?", ["00"]),
        ("https://a/01/12312312312333?&&&99=ABC&&&&&&98=XYZ&&&", ["01", "99", "98"]),
        ("https://a/01/12312312312333?singleton&unknown=666&99=ABC", ["01", "99"]),
        ("https://a/01/12312312312333/22/ABC+123?98=XYZ%2f987", ["01", "22", "98"]),
        ("https://a/01/12312312312333/22/test/10/abc/21/xyz#fragment", ["01", "22", "10", "21"]),
    ],
)
def test_digital_link_standard_examples(uri: str, ais: list[str]) -> None:
    elements = gs1_link.read_digital_link(uri, keys=ALL_KEYS)
    assert [e.ai.ai for e in elements] == ais


@pytest.mark.parametrize(
    ("uri", "code", "ai"),
    [
        # qualifiers out of order, or mixing alternative sequences
        ("https://id.gs1.org/01/09520123456788/21/12345/10/ABC1", "gs1_key_qualifier_order", "10"),
        ("https://id.gs1.org/01/09520123456788/10/A/22/B", "gs1_key_qualifier_order", "22"),
        ("https://id.gs1.org/01/09520123456788/21/S/235/T", "gs1_key_qualifier_order", "235"),
        ("https://id.gs1.org/01/09520123456788/10/A/10/A", "gs1_key_qualifier_order", "10"),
        ("https://id.gs1.org/00/952012345678912345/10/A", "gs1_key_qualifier_order", "10"),
        ("https://id.gs1.org/414/9520123456788/254/A/7040/1A23", "gs1_key_qualifier_order", "7040"),
        # an AI in the query that belongs in the path
        ("https://example.com/01/09520123456788?10=ABC123", "gs1_qualifier_in_query", "10"),
        ("https://id.gs1.org/01/09520123456788/10/A?21=S", "gs1_qualifier_in_query", "21"),
        # an AI twice, even with the same value
        (
            "https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&01=09520123456788",
            "gs1_duplicate_ai",
            "01",
        ),
        (
            "https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&10=ABC123",
            "gs1_duplicate_ai",
            "10",
        ),
        ("https://id.gs1.org/01/09520123456788?99=XYZ789&99=XYZ789", "gs1_duplicate_ai", "99"),
        ("https://id.gs1.org/01/09520123456788?17=271231&17=281231", "gs1_duplicate_ai", "17"),
        # unknown, empty and malformed values
        ("https://example.com/01/09520123456788?99=XYZ&89=ABC123", "gs1_unknown_ai", "89"),
        ("https://a/01/12312312312333?99=ABC&999=faux", "gs1_unknown_ai", "999"),
        ("https://a/01/12312312312333?99=", "gs1_value_too_short", "99"),
        ("https://a/01/12312312312333/22/ABC%2d123?98=XYZ+987", "gs1_invalid_value", "98"),
        (
            "https://id.gs1.org/01/09520123456788/10/ABCDEFGHIJKLMNOPQRSTU",
            "gs1_value_too_long",
            "10",
        ),
        # not /AI/value pairs after the key
        ("https://a/stem/00/006141411234567890/", "gs1_invalid_path", "00"),
        ("https://example.com/01/09520123456788/89/ABC123?99=XYZ", "gs1_invalid_path", "01"),
        ("https://a/01/12312312312333/lot/ABC", "gs1_invalid_path", "01"),  # no aliases
    ],
)
def test_digital_link_refusals(uri: str, code: str, ai: str) -> None:
    with pytest.raises(Gs1SyntaxError) as refused:
        gs1_link.read_digital_link(uri, keys=ALL_KEYS)
    assert (refused.value.code, refused.value.ai) == (code, ai)


@pytest.mark.parametrize(
    "uri",
    [
        "http://a",  # no path
        "http://a/b/",
        "https://example.com/about",
        "https://blog.example/2024/01/05",  # /01/05 is no GTIN
    ],
)
def test_not_a_digital_link(uri: str) -> None:
    with pytest.raises(NotGs1) as refused:
        gs1_link.read_digital_link(uri, keys=ALL_KEYS)
    assert type(refused.value) is NotGs1


def test_a_key_too_long_is_not_a_link() -> None:
    # The engine refuses it as a broken link; it never reads as one, so a scan of it is text.
    with pytest.raises(NotGs1) as refused:
        gs1_link.read_digital_link("https://a/253/1231231231232TEST56789012345678", keys=ALL_KEYS)
    assert (refused.value.code, refused.value.ai) == ("gs1_value_too_long", "253")


def test_a_link_to_other_keys_is_not_for_qtrack() -> None:
    with pytest.raises(NotGs1) as refused:
        parse_digital_link("https://id.gs1.org/414/9520123456788/254/32a%2Fb")
    assert type(refused.value) is NotGs1
