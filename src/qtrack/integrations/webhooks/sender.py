"""One attempt of one delivery: POST the signed body to the checked address, read a capped
answer, and say how it went. Never follows a redirect; a 3xx is a failure.

Sent with aiohttp's client: a delivery through httpx cost about ten times its CPU (its
connection pool and HTTP/1.1 parser are Python; docs/architecture.md, docs/benchmarks.md)."""

import asyncio
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

import aiohttp
import structlog
from yarl import URL

from qtrack import __version__
from qtrack.core.digits import ascii_digits
from qtrack.integrations.webhooks.safety import Target

EXCERPT_CHARS = 1000
USER_AGENT = f"qtrack-webhooks/{__version__}"
log = structlog.get_logger("qtrack.webhooks")


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
def ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client, with the system's certificate authorities
    (building one reads them; SSL_CERT_FILE and SSL_CERT_DIR point OpenSSL elsewhere)."""
    return ssl.create_default_context()


def client(*, connect_s: float, read_s: float, connections: int) -> aiohttp.ClientSession:
    """An HTTP client for one delivery job: short timeouts, at most `connections` open to the
    receiver and kept alive between batches, no proxies from the environment (they would
    bypass the address check) and no cookies (a receiver's are never sent back to it or to
    another). Made inside the job's event loop; `close` it when done."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, ssl=ssl_context()),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_s, sock_read=read_s),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=False,
    )


# What stays as written in a URL's path and query, as httpx sent it: a receiver may match its
# URL (a token in the query) byte for byte. Anything else (a space, a non-ASCII letter) is
# percent-encoded, and escapes already there are kept as they are.
_AS_WRITTEN = "!$%&'()*+,/:;=?@[]~{}|^`"


def _pinned(target: Target) -> tuple[URL, dict[str, str], str | None]:
    """The URL with the checked address in place of the name, the Host header, and the TLS
    server name (what the certificate must name): the connection goes where the check said,
    even if DNS changes meanwhile."""
    address = str(target.address)
    literal = f"[{address}]" if ":" in address else address
    parts = target.url
    url = parts._replace(
        netloc=f"{literal}:{target.port}",
        path=quote(parts.path, safe=_AS_WRITTEN),
        query=quote(parts.query, safe=_AS_WRITTEN),
    ).geturl()
    name = target.host.encode("idna").decode("ascii")  # an international name as DNS has it
    shown = f"[{name}]" if ":" in name else name
    host = shown if parts.port is None else f"{shown}:{parts.port}"
    server_name = target.host if parts.scheme == "https" else None
    return URL(url, encoded=True), {"Host": host}, server_name


async def send(
    http: aiohttp.ClientSession,
    target: Target,
    headers: dict[str, str],
    body: bytes,
    *,
    max_bytes: int,
    deadline_s: float,
) -> Outcome:
    """POST `body` with `headers` to the target; never raises for the receiver's failures."""
    started = time.perf_counter()
    status: int | None = None
    raw = b""
    retry_after: float | None = None
    error: str | None = None
    try:
        url, host, server_name = _pinned(target)
        async with asyncio.timeout(deadline_s):
            async with http.post(
                url,
                data=body,
                headers={
                    **host,
                    **headers,
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    "Accept-Encoding": "identity",
                },
                allow_redirects=False,
                server_hostname=server_name,
            ) as response:
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
                while len(raw) < max_bytes:  # read no more than the cap
                    chunk = await response.content.read(max_bytes - len(raw))
                    if not chunk:
                        break
                    raw += chunk
                if not response.content.at_eof():
                    response.close()  # the rest unread: the connection is not reused
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        error = _timeout_text(exc, status)
    except aiohttp.ClientResponseError as exc:  # an answer that is not HTTP as it should be
        error = f"{type(exc).__name__}: {exc.message}"
    except aiohttp.ClientError as exc:
        error = _error_text(exc)
    except Exception as exc:  # never the batch's failure: this attempt's, logged with its cause
        log.exception("webhook_attempt_failed", host=target.host)
        error = _error_text(exc)
    latency = (time.perf_counter() - started) * 1000
    if error is None and status is not None and not 200 <= status < 300:
        error = f"answered {status}" + (" (redirects are not followed)" if status < 400 else "")
    excerpt = raw[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS] if raw else None
    return Outcome(status, round(latency, 2), excerpt, error and error[:500], retry_after)


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _timeout_text(exc: Exception, status: int | None) -> str:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "timed out connecting"
    if status is not None:
        return f"answered {status} but the body timed out"
    return "timed out waiting for the answer"


def _retry_after(value: str | None) -> float | None:
    """A Retry-After in seconds (the date form is rare for webhooks and ignored)."""
    text = (value or "").strip()
    return float(text) if ascii_digits(text) else None
