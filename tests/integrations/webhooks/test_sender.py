"""One attempt of a delivery (`integrations.webhooks.sender`) against a real receiver, over
plain HTTP and over TLS: what is sent, what is read back, and each way an attempt fails."""

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from qtrack.integrations.webhooks import sender
from qtrack.integrations.webhooks.safety import Target
from tests.integrations.webhooks.receiver import Answer, Receiver

HOST = "hooks.example.test"
SIGNED = {"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,x"}


def _target(url: str, port: int) -> Target:
    parts = urlsplit(url)
    assert parts.hostname is not None
    return Target(parts, parts.hostname, port, ipaddress.ip_address("127.0.0.1"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    client = sender.client(connect_s=2, read_s=5, connections=4)
    yield client
    await client.close()


async def _send(
    http: aiohttp.ClientSession, target: Target, body: bytes = b'{"n":1}', max_bytes: int = 64
) -> sender.Outcome:
    return await sender.send(http, target, SIGNED, body, max_bytes=max_bytes, deadline_s=5)


async def test_the_body_and_headers_arrive_as_signed_and_the_answer_is_read(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    receiver.decide = lambda _: Answer(201, b'{"taken": "yes"}', headers={"Retry-After": "30"})
    target = _target(f"http://{HOST}:{receiver.port}/in/hook?x=1", receiver.port)
    outcome = await _send(http, target, b'{"n":"\xc3\xbc"}')
    assert (outcome.ok, outcome.status_code, outcome.error) == (True, 201, None)
    assert (outcome.excerpt, outcome.retry_after_s) == ('{"taken": "yes"}', 30.0)
    (got,) = receiver.received
    assert (got.method, got.path, got.body) == ("POST", "/in/hook?x=1", b'{"n":"\xc3\xbc"}')
    assert got.headers["host"] == f"{HOST}:{receiver.port}"  # the name, sent to the address
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == sender.USER_AGENT
    assert got.headers["accept-encoding"] == "identity"
    assert {k: got.headers[k] for k in SIGNED} == SIGNED


async def test_the_url_is_sent_as_written_and_an_international_name_as_dns_has_it(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    port = receiver.port
    path = "/in/a b/%zz/%2f/\u20ac?t=a%2Fb+c&x=[1]&s=a b"
    assert (await _send(http, _target(f"http://b\u00fccher.test:{port}{path}", port))).ok
    (got,) = receiver.received
    assert got.path == "/in/a%20b/%zz/%2f/%E2%82%AC?t=a%2Fb+c&x=[1]&s=a%20b"
    assert got.headers["host"] == f"xn--bcher-kva.test:{port}"


async def test_an_answer_httpx_would_have_choked_on_is_this_attempts_failure_alone(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    target = _target(f"http://{HOST}:{receiver.port}/hook", receiver.port)
    receiver.decide = lambda _: Answer(429, b"", headers={"Retry-After": "\u00b2"})
    odd = await _send(http, target)
    assert (odd.ok, odd.status_code, odd.retry_after_s) == (False, 429, None)
    assert odd.error == "answered 429"
    receiver.decide = lambda _: Answer(200, b"not gzip", headers={"Content-Encoding": "gzip"})
    raw = await _send(http, target)  # read as it came: the answer is never decompressed
    assert (raw.ok, raw.excerpt) == (True, "not gzip")


async def test_a_redirect_is_not_followed_and_an_error_status_fails(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    receiver.decide = lambda _: Answer(302, b"", headers={"Location": "/elsewhere"})
    target = _target(f"http://{HOST}:{receiver.port}/hook", receiver.port)
    moved = await _send(http, target)
    assert (moved.ok, moved.error) == (False, "answered 302 (redirects are not followed)")
    receiver.decide = lambda _: Answer(503, b"busy")
    failed = await _send(http, target)
    assert (failed.ok, failed.error, failed.excerpt) == (False, "answered 503", "busy")
    assert [r.path for r in receiver.received] == ["/hook", "/hook"]


async def test_an_answer_is_read_up_to_the_cap_and_its_connection_not_used_again(
    http: aiohttp.ClientSession,
) -> None:
    receiver = Receiver(keep_alive=True)
    await receiver.start()
    try:
        target = _target(f"http://{HOST}:{receiver.port}/hook", receiver.port)
        assert (await _send(http, target)).ok
        assert (await _send(http, target)).ok
        assert receiver.connections == 1  # kept alive between attempts
        receiver.decide = lambda _: Answer(200, b"x" * 100_000)
        capped = await _send(http, target, max_bytes=100)
        assert (capped.ok, capped.excerpt) == (True, "x" * 100)
        receiver.decide = lambda _: Answer()
        assert (await _send(http, target)).ok
        assert receiver.connections == 2  # the rest of the capped answer was never read
    finally:
        await receiver.stop()


async def test_timeouts_and_a_closed_port_are_failures_with_their_reason(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    target = _target(f"http://{HOST}:{receiver.port}/hook", receiver.port)
    quick = sender.client(connect_s=2, read_s=0.5, connections=1)

    async def attempt() -> sender.Outcome:
        # A deadline far off: the read timeout (0.5 s) is what ends these.
        return await sender.send(quick, target, SIGNED, b"{}", max_bytes=64, deadline_s=30)

    try:
        receiver.decide = lambda _: Answer(hang=True)
        hung = await attempt()
        assert hung.error == "timed out waiting for the answer"
        assert hung.latency_ms < 5000
        receiver.decide = lambda _: Answer(200, b'{"ok"', stall=True)
        stalled = await attempt()
        assert (stalled.ok, stalled.status_code) == (False, 200)
        assert stalled.error == "answered 200 but the body timed out"
        assert stalled.latency_ms < 5000
    finally:
        await quick.close()

    closed = Receiver()
    await closed.start()
    port = closed.port
    await closed.stop()
    refused = await _send(http, _target(f"http://{HOST}:{port}/hook", port))
    assert (refused.ok, refused.status_code) == (False, None)
    assert refused.error is not None
    assert refused.error.startswith("ClientConnectorError")


async def test_proxies_from_the_environment_are_not_used(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = Receiver()
    await closed.start()
    await closed.stop()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    http = sender.client(connect_s=2, read_s=2, connections=1)
    try:
        assert (await _send(http, _target(f"http://{HOST}:{receiver.port}/h", receiver.port))).ok
    finally:
        await http.close()


async def test_a_receiver_that_never_speaks_tls_times_out_connecting() -> None:
    silent: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)  # accepted, then nothing: no TLS handshake

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    http = sender.client(connect_s=0.5, read_s=5, connections=1)
    try:
        outcome = await sender.send(
            http,
            _target(f"https://{HOST}:{port}/hook", port),
            SIGNED,
            b"{}",
            max_bytes=64,
            deadline_s=30,
        )
        assert (outcome.ok, outcome.error) == (False, "timed out connecting")
        assert outcome.latency_ms < 5000
    finally:
        await http.close()
        for writer in silent:
            writer.close()
        server.close()
        await server.wait_closed()


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
    )
    if issuer.rfc4514_string() == f"CN={name}":  # the authority
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server context for HOST, signed by an authority the sender is made to trust."""
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qtrack test CA")])
    ca = _certificate("qtrack test CA", ca_key, ca_name, ca_key)
    leaf = _certificate(HOST, leaf_key, ca_name, ca_key)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    trusting = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    monkeypatch.setattr(sender, "ssl_context", lambda: trusting)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    return server


async def test_tls_goes_to_the_checked_address_and_checks_the_urls_name(
    tls: ssl.SSLContext,
) -> None:
    names: list[str | None] = []
    tls.sni_callback = lambda _sock, name, _ctx: names.append(name)
    receiver = Receiver()
    await receiver.start(tls)
    http = sender.client(connect_s=2, read_s=2, connections=2)
    try:
        port = receiver.port
        ok = await _send(http, _target(f"https://{HOST}:{port}/hook", port))
        assert (ok.ok, ok.error) == (True, None)
        assert names == [HOST]  # the name the certificate must carry, though sent to 127.0.0.1
        assert receiver.received[0].headers["host"] == f"{HOST}:{port}"

        other = await _send(http, _target(f"https://other.example.test:{port}/hook", port))
        assert (other.ok, other.status_code) == (False, None)
        assert other.error is not None
        assert "certificate" in other.error.lower()
        assert len(receiver.received) == 1
    finally:
        await http.close()
        await receiver.stop()
        await asyncio.sleep(0)
