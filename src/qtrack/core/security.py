"""Password hashing (argon2id) and other small cryptographic helpers."""

import functools
import hashlib
import hmac
import secrets

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults are the RFC 9106 "low memory" profile, argon2id.
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of the password, salt and parameters included."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash; never raises on a bad or foreign hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


@functools.cache
def _dummy_hash() -> str:
    # A constant hash to verify against when the user does not exist, so that "no such user"
    # and "wrong password" take the same time. Not made at import: hashing costs ~0.13 s,
    # which every CLI command paid; a server makes it as it starts (`prepare`).
    return _hasher.hash(secrets.token_urlsafe(16))


def prepare() -> None:
    """Make the unknown-user hash now, as a server starts: made by the first login instead,
    that login would take twice as long when the name is unknown, and tell so."""
    _dummy_hash()


def burn_verify_time(password: str) -> None:
    """Spend the time of one verification, to hide whether a username exists."""
    verify_password(_dummy_hash(), password)


def generate_password(nbytes: int = 15) -> str:
    """A random password that is easy to copy: URL-safe base64, no padding."""
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a string: how high-entropy tokens are stored (they need no slow hash)."""
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    """Compare two secrets without leaking where they differ."""
    return hmac.compare_digest(a.encode(), b.encode())


# argon2 takes a large fraction of a second by design. Done on the event loop it would stall
# every other request; in threads (argon2-cffi releases the GIL) it does not. The limiter
# bounds how many hashes run at once, so a login flood cannot take all the memory.
_HASHING = anyio.CapacityLimiter(4)


async def hash_password_async(password: str) -> str:
    """`hash_password` in a worker thread."""
    return await anyio.to_thread.run_sync(hash_password, password, limiter=_HASHING)


async def verify_password_async(password_hash: str, password: str) -> bool:
    """`verify_password` in a worker thread."""
    return await anyio.to_thread.run_sync(
        verify_password, password_hash, password, limiter=_HASHING
    )


async def burn_verify_time_async(password: str) -> None:
    """`burn_verify_time` in a worker thread."""
    await anyio.to_thread.run_sync(burn_verify_time, password, limiter=_HASHING)
