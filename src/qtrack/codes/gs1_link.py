"""GS1 Digital Link URIs, read as strictly as GS1's Barcode Syntax Engine reads them.

The path is found from its end back to the rightmost primary key (what precedes it is the
resolver's own); its AIs must follow one of the key's qualifier sequences; the query's AIs
must be known, must not belong in the path, and no AI may come twice. Each value is checked
whole by `gs1_syntax.element`.
"""

from collections.abc import Collection
from itertools import pairwise
from urllib.parse import unquote, unquote_plus, urlsplit

from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_element_strings import GS1ElementString

from qtrack.codes.gs1_syntax import (
    DUPLICATE_AI,
    INVALID_PATH,
    KEY_QUALIFIER_ORDER,
    QUALIFIER_IN_QUERY,
    UNKNOWN_AI,
    Gs1Error,
    Gs1SyntaxError,
    NotGs1,
    element,
    known_ai,
)
from qtrack.core.digits import ascii_digits

# The GS1 Digital Link primary keys and, for each, the alternative sequences of key
# qualifiers its path may carry: any of a sequence's AIs may be left out, but those given
# keep its order, and sequences do not mix. This is the "dlpkey" attribute of GS1's Barcode
# Syntax Dictionary; biip's own table lists 01's qualifiers as one sequence 22, 10, 21, 235
# (so it accepts /21/../235/..) and has no alternatives, hence this small copy.
DL_KEY_QUALIFIERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "00": ((),),
    "01": (("22", "10", "21"), ("235",)),
    "253": ((),),
    "255": ((),),
    "401": ((),),
    "402": ((),),
    "414": (("254",), ("7040",)),
    "415": (("8020",),),
    "417": (("7040",),),
    "8003": ((),),
    "8004": (("7040",),),
    "8006": (("22", "10", "21"),),
    "8010": (("8011",),),
    "8013": ((),),
    "8017": (("8019",),),
    "8018": (("8019",),),
}


def valid_path(key: str, qualifiers: list[str]) -> bool:
    """Whether a Digital Link path's AIs after the key follow one of its qualifier sequences."""
    for sequence in DL_KEY_QUALIFIERS.get(key, ()):
        position = 0
        for ai in qualifiers:
            if ai not in sequence[position:]:
                break
            position = sequence.index(ai, position) + 1
        else:
            return True
    return False


def _dl_path(path: str, keys: Collection[str]) -> list[tuple[str, str]]:
    """The (AI, raw value) pairs of a Digital Link path: found from the end, as GS1's engine
    does, back to the rightmost primary key; whatever precedes it is the resolver's own."""
    segments = path.split("/")
    end = len(segments)
    pairs: list[tuple[str, str]] = []
    while end >= 3 and not path.endswith("/"):
        ai_text, value = segments[end - 2], segments[end - 1]
        if not ascii_digits(ai_text) or known_ai(ai_text) is None:
            break
        pairs.insert(0, (ai_text, value))
        if ai_text in DL_KEY_QUALIFIERS:
            return pairs
        end -= 2
    # Not a Digital Link path. If it still holds one of `keys` with a valid value, it is a
    # broken link to something (a trailing slash, a segment that is no AI), not a web page.
    for at, (ai_text, value) in enumerate(pairwise(segments)):
        ai = known_ai(ai_text) if ai_text in keys else None
        if ai is not None and _parses(ai, _dl_value(ai_text, value, query=False)):
            raise Gs1SyntaxError(
                f"The path after AI ({ai_text}) is not a GS1 Digital Link path: "
                f"{'/'.join(segments[at:])!r} must be /AI/value pairs, without a trailing slash",
                code=INVALID_PATH,
                ai=ai_text,
            )
    raise NotGs1("no GS1 Digital Link key in the path")


def _parses(ai: GS1ApplicationIdentifier, value: str) -> bool:
    try:
        element(ai, value, recognised=False)
    except Gs1Error:
        return False
    return True


def _dl_value(ai: str, raw: str, *, query: bool) -> str:
    value = unquote_plus(raw) if query else unquote(raw)
    if ai == "01" and len(value) in (8, 12, 13) and ascii_digits(value):
        value = value.zfill(14)  # a GTIN-8/12/13, as labels printed before GS1 DL 1.2 carry
    return value


def read_digital_link(uri: str, *, keys: Collection[str]) -> list[GS1ElementString]:
    """The elements of a GS1 Digital Link URI, path first, then the query's AIs.

    Refused as GS1's syntax engine refuses them: qualifiers not in a sequence the key allows,
    an AI given twice (path or query, even with the same value), a numeric query parameter
    that is no AI, an AI in the query that belongs in the path, an empty or malformed value.
    Query parameters that are not numeric are not GS1's and are ignored. A link whose key is
    not one of `keys` is NotGs1 (the caller does not deal in such things).
    """
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise NotGs1(str(exc)) from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise NotGs1("not an http(s) URI")
    pairs = _dl_path(parts.path, keys)
    key, key_value = pairs[0]
    if key not in keys:
        raise NotGs1(f"not a GS1 Digital Link to any of AI {', '.join(keys)}")
    key_ai = known_ai(key)
    assert key_ai is not None  # _dl_path only returns known AIs
    elements = [element(key_ai, _dl_value(key, key_value, query=False), recognised=False)]
    path_ais = [ai for ai, _ in pairs[1:]]
    for ai_text, raw in pairs[1:]:
        ai = known_ai(ai_text)
        assert ai is not None
        elements.append(element(ai, _dl_value(ai_text, raw, query=False), recognised=True))
    if not valid_path(key, path_ais):
        raise Gs1SyntaxError(
            f"The AIs in the path ({', '.join([key, *path_ais])}) are not a valid key-qualifier "
            f"sequence for AI ({key}): {_sequences(key)}",
            code=KEY_QUALIFIER_ORDER,
            ai=next((ai for ai in path_ais if not valid_path(key, [ai])), path_ais[-1]),
        )
    elements += _dl_query(parts.query, key, path_ais)
    seen: set[str] = set()
    for item in elements:
        if item.ai.ai in seen:
            raise Gs1SyntaxError(
                f"GS1 AI ({item.ai.ai}) is given twice in the Digital Link",
                code=DUPLICATE_AI,
                ai=item.ai.ai,
            )
        seen.add(item.ai.ai)
    return elements


def _dl_query(query: str, key: str, path_ais: list[str]) -> list[GS1ElementString]:
    elements = []
    for param in query.split("&"):
        name, equals, raw = param.partition("=")
        if not equals or not ascii_digits(name):
            continue  # not an AI: another application's parameter
        ai = known_ai(name)
        if ai is None:
            raise Gs1SyntaxError(
                f"Unknown AI ({name}) in the query parameters", code=UNKNOWN_AI, ai=name
            )
        if any(
            valid_path(key, [*path_ais[:i], name, *path_ais[i:]]) for i in range(len(path_ais) + 1)
        ):
            raise Gs1SyntaxError(
                f"GS1 AI ({name}) is a key qualifier of AI ({key}): it belongs in the path, "
                "not the query",
                code=QUALIFIER_IN_QUERY,
                ai=name,
            )
        elements.append(element(ai, _dl_value(name, raw, query=True), recognised=True))
    return elements


def _sequences(key: str) -> str:
    options = [" then ".join(f"({ai})" for ai in seq) for seq in DL_KEY_QUALIFIERS[key] if seq]
    if not options:
        return "it takes no qualifiers"
    return "qualifiers go " + ", or ".join(options) + ", each optional, in that order"
