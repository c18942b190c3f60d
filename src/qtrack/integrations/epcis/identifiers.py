"""Identifiers in EPCIS documents, both ways.

Out: an item with a GTIN and a serial is an instance, `https://id.gs1.org/01/{gtin}/21/{serial}`
(GS1 Digital Link); with a GTIN and a lot (no serial) it is known only as a quantity of a
class, `https://id.gs1.org/01/{gtin}/10/{lot}`; any other item is `{base}/id/item/{code}`
under `QTRACK_PUBLIC_BASE_URL`. A location is `{base}/id/location/{code}`. Containers are
always instances: one known only by its lot is named by its qtrack URI as a parent.

In: a partner's identifier may be a Digital Link on any host, an EPC URN (SGTIN, LGTIN, an
SGTIN pattern), or one of our own URIs; `parse` says which item keys it names.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote

GS1_RESOLVER = "https://id.gs1.org"


def _check_digit(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


def _part(value: str) -> str:
    # Most codes, lots and serials need no escaping: skip quote() (the export's hot path).
    return value if _SAFE.fullmatch(value) else quote(value, safe="")


def item_uri(base: str, code: str) -> str:
    """qtrack's own URI for an item."""
    return f"{base}/id/item/{_part(code)}"


@lru_cache(maxsize=4096)
def location_uri(base: str, code: str) -> str:
    """qtrack's own URI for a location."""
    return f"{base}/id/location/{_part(code)}"


def identify(
    base: str, code: str, gtin: str | None, serial: str | None, batch: str | None
) -> tuple[str, bool]:
    """The item's identifier and whether it names a class (a lot) rather than an instance."""
    if gtin and serial:
        return f"{GS1_RESOLVER}/01/{gtin}/21/{_part(serial)}", False
    if gtin and batch:
        return f"{GS1_RESOLVER}/01/{gtin}/10/{_part(batch)}", True
    return item_uri(base, code), False


def instance_uri(
    base: str, code: str, gtin: str | None, serial: str | None, batch: str | None
) -> str:
    """The item as an instance (what a parentID must be): its lot-level name will not do."""
    uri, is_class = identify(base, code, gtin, serial, batch)
    return item_uri(base, code) if is_class else uri


def quantity_class(
    base: str, code: str, gtin: str | None, serial: str | None, batch: str | None
) -> str:
    """The class an item's quantity is counted in: its lot, its GTIN, else the item itself."""
    if gtin and batch:
        return f"{GS1_RESOLVER}/01/{gtin}/10/{_part(batch)}"
    if gtin:
        return f"{GS1_RESOLVER}/01/{gtin}"
    return item_uri(base, code)


@dataclass(frozen=True)
class Ref:
    """What a partner's identifier names: an item code, a location code, or GS1 keys."""

    code: str | None = None
    location: str | None = None
    gtin: str | None = None
    serial: str | None = None
    lot: str | None = None

    @property
    def is_class(self) -> bool:
        """True when it names a class (a GTIN, or a GTIN's lot) and not one instance."""
        return self.gtin is not None and self.serial is None


# A Digital Link: any host, an optional path before the primary key, the long or short names
# of the keys (01/gtin, 10/lot, 21/ser), the CPV (22) ignored, then an optional query.
_DIGITAL_LINK = re.compile(
    r"^https?://[^/?#]+(?:/[^?#]*?)?/(?:01|gtin)/(\d{8}|\d{12,14})"
    r"(?:/22/[^/?#]+)?(?:/(?:10|lot)/([^/?#]+))?(?:/(?:21|ser)/([^/?#]+))?/?(?:[?#].*)?$"
)
_EPC_URN = re.compile(
    r"^urn:epc:(id:sgtin|class:lgtin|idpat:sgtin):(\d{6,12})\.(\d{1,7})\.(\*|[^.]+)$"
)


def _gtin_of(company: str, reference: str) -> str | None:
    """GTIN-14 from an EPC URN's company prefix and indicator + item reference."""
    if len(company) + len(reference) != 13:
        return None
    body = reference[0] + company + reference[1:]
    return body + _check_digit(body)


def parse(uri: str, base: str) -> Ref | None:
    """The keys a partner's identifier names, or None for an identifier qtrack cannot read."""
    for kind in ("item", "location"):
        prefix = f"{base}/id/{kind}/"
        if uri.startswith(prefix) and "/" not in uri[len(prefix) :]:
            value = unquote(uri[len(prefix) :]).strip().upper()
            if not value:
                return None
            return Ref(code=value) if kind == "item" else Ref(location=value)
    found = _DIGITAL_LINK.match(uri)
    if found:
        gtin = found[1].zfill(14)
        if _check_digit(gtin[:-1]) != gtin[-1]:
            return None
        lot, serial = found[2], found[3]
        return Ref(
            gtin=gtin,
            lot=unquote(lot) if lot else None,
            serial=unquote(serial) if serial else None,
        )
    found = _EPC_URN.match(uri)
    if found:
        scheme, company, reference, value = found.groups()
        gtin = _gtin_of(company, reference)
        if gtin is None:
            return None
        if scheme == "id:sgtin":
            return None if value == "*" else Ref(gtin=gtin, serial=unquote(value))
        if scheme == "class:lgtin":
            return None if value == "*" else Ref(gtin=gtin, lot=unquote(value))
        return Ref(gtin=gtin) if value == "*" else None
    return None
