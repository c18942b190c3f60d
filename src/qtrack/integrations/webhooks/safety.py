"""Where a webhook may be sent: http(s) URLs whose host resolves only to public addresses.

A receiver URL is checked when it is registered and again at every delivery, since DNS can
change in between (and an attacker's name can be made to answer 127.0.0.1 later). The
delivery then connects to the address it checked, never resolving the name a second time.
`QTRACK_WEBHOOKS_ALLOW_PRIVATE` lets on-premise receivers on private addresses through.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from qtrack.core.errors import QtrackError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookUrlRefused(QtrackError):
    status_code, code, message = 422, "webhook_url_refused", "This URL cannot receive webhooks"


@dataclass(frozen=True)
class Target:
    """A checked URL: its parts and the address to connect to."""

    url: SplitResult
    host: str
    port: int
    address: IPAddress


def parse(url: str) -> SplitResult:
    """The URL's parts, if it is an absolute http(s) URL without credentials or fragment."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError as exc:
        raise WebhookUrlRefused(f"Not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlRefused("Only http:// and https:// URLs can receive webhooks")
    if not parts.hostname:
        raise WebhookUrlRefused("The URL has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRefused(
            "Put no user name or password in the URL: receivers check the signature instead"
        )
    if parts.fragment:
        raise WebhookUrlRefused("A URL with a #fragment cannot be sent to")
    return parts


def refusal(address: IPAddress) -> str | None:
    """Why an address may not receive webhooks (None if it may): loopback, private..."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one (::ffff:a.b.c.d, or 6to4's 2002:AABB:CCDD::) is
        # reached as that IPv4 address wherever the network routes it.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            address = embedded
        elif address.is_site_local:  # fec0::/10, deprecated, but routed inside where used
            return "site-local"
    for test, name in (
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_unspecified, "unspecified"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
    ):
        if test:
            return name
    if not address.is_global:  # shared (100.64.0.0/10), documentation ranges...
        return "non-public"
    return None


async def resolve(url: str, *, allow_private: bool) -> Target:
    """Check a URL and find the address to connect to; WebhookUrlRefused if it resolves to
    a loopback, link-local or private address (unless allowed) or does not resolve."""
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _lookup(host, port)
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise WebhookUrlRefused(
                    f"{host} is a {reason} address ({address}); set "
                    "QTRACK_WEBHOOKS_ALLOW_PRIVATE to send to receivers on your own network",
                    details={"host": host, "address": str(address), "reason": reason},
                )
    return Target(parts, host, port, addresses[0])


async def _lookup(host: str, port: int) -> list[IPAddress]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError) as exc:
        raise WebhookUrlRefused(f"{host} does not resolve: {exc}", details={"host": host}) from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 scope (fe80::1%eth0) is link-local anyway; drop it before parsing.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise WebhookUrlRefused(f"{host} does not resolve", details={"host": host})
    return found
