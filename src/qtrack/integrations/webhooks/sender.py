"""One attempt of one delivery: POST the signed body to the checked address, read a capped
answer, and say how it went. Never follows a redirect; a 3xx is a failure."""

import asyncio
import time
from dataclasses import dataclass
from functools import lru_cache
from ssl import SSLContext

import httpx

from qtrack import __version__
from qtrack.integrations.webhooks.safety import Target

EXCERPT_CHARS = 1000
USER_AGENT = f"qtrack-webhooks/{__version__}"


@dataclass(frozen=True)
class Outcome:
    """How an attempt went."""

    status_code: int | None
    latency_ms: float
    excerpt: str | None
    error: str | None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver took it: a 2xx, answered in time."""
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


@lru_cache(maxsize=1)
def ssl_context() -> SSLContext:
    """One verifying TLS context for every client (building one reads the CA bundle)."""
    return httpx.create_ssl_context()


def client(*, connect_s: float, read_s: float, connections: int) -> httpx.AsyncClient:
    """An HTTP client for one delivery job: short timeouts, no redirects, no proxies from the
    environment (they would bypass the address check)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_s, connect=connect_s),
        follow_redirects=False,
        trust_env=False,
        verify=ssl_context(),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def _pinned(target: Target) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL with the checked address in place of the name, the Host header, and the TLS
    server name: the connection goes where the check said, even if DNS changes meanwhile."""
    address = str(target.address)
    host = f"[{address}]" if ":" in address else address
    url = target.url._replace(netloc=f"{host}:{target.port}").geturl()
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    return url, {"Host": target.url.netloc}, extensions


async def send(
    http: httpx.AsyncClient,
    target: Target,
    headers: dict[str, str],
    body: bytes,
    *,
    max_bytes: int,
    deadline_s: float,
) -> Outcome:
    """POST `body` with `headers` to the target; never raises for the receiver's failures."""
    url, host, extensions = _pinned(target)
    started = time.perf_counter()
    status: int | None = None
    raw = b""
    retry_after: float | None = None
    error: str | None = None
    try:
        async with asyncio.timeout(deadline_s):
            request = http.build_request(
                "POST",
                url,
                content=body,
                headers={
                    **host,
                    **headers,
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    "Accept-Encoding": "identity",
                },
                extensions=extensions,
            )
            response = await http.send(request, stream=True)
            try:
                status = response.status_code
                retry_after = _retry_after(response.headers.get("retry-after"))
                async for chunk in response.aiter_raw():
                    raw += chunk
                    if len(raw) >= max_bytes:  # read no more than the cap
                        raw = raw[:max_bytes]
                        break
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException) as exc:
        error = _timeout_text(exc, status)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency = (time.perf_counter() - started) * 1000
    if error is None and status is not None and not 200 <= status < 300:
        error = f"answered {status}" + (" (redirects are not followed)" if status < 400 else "")
    excerpt = raw[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS] if raw else None
    return Outcome(status, round(latency, 2), excerpt, error and error[:500], retry_after)


def _timeout_text(exc: Exception, status: int | None) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if status is not None:
        return f"answered {status} but the body timed out"
    return "timed out waiting for the answer"


def _retry_after(value: str | None) -> float | None:
    """A Retry-After in seconds (the date form is rare for webhooks and ignored)."""
    if value and value.strip().isdigit():
        return float(value.strip())
    return None
