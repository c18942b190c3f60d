"""The backup file: a tar holding `manifest.json` first, then the database itself.

The manifest says what the file is (format and its version), which qtrack made it, the
schema revision the data is at, which database it came from, when, how many items and
events it holds, and the SHA-256 of the payload, checked before anything is restored.
"""

import hashlib
import io
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from qtrack.core.errors import QtrackError

FORMAT = "qtrack-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAYLOADS = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
_COPY = 1024 * 1024


class BackupInvalid(QtrackError):
    status_code, code, message = 400, "backup_invalid", "This is not a usable qtrack backup"


@dataclass(frozen=True)
class Manifest:
    """What a backup holds and where it came from."""

    format: str
    format_version: int
    qtrack_version: str
    schema_revision: str | None
    database: str  # "sqlite" or "postgresql"
    payload: str
    payload_bytes: int
    payload_sha256: str
    created_at: str
    items: int
    events: int
    tool: str  # what made the payload: "sqlite3 backup API 3.x" or "pg_dump (PostgreSQL) 15.x"

    def to_json(self) -> bytes:
        """The manifest as the file holds it (indented: people read it)."""
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        """A manifest read back; BackupInvalid if it is not one this qtrack understands."""
        try:
            raw: dict[str, Any] = orjson.loads(data)
            manifest = cls(**{name: raw[name] for name in cls.__dataclass_fields__})
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise BackupInvalid(f"The manifest cannot be read: {exc}") from exc
        if manifest.format != FORMAT:
            raise BackupInvalid(f"The manifest is not a qtrack backup's ({manifest.format!r})")
        if manifest.format_version > FORMAT_VERSION:
            raise BackupInvalid(
                f"The backup is of format version {manifest.format_version}; this qtrack "
                f"reads up to {FORMAT_VERSION}: restore it with qtrack "
                f"{manifest.qtrack_version} or newer"
            )
        if PAYLOADS.get(manifest.database) != manifest.payload:
            raise BackupInvalid(f"Unknown database kind {manifest.database!r}")
        return manifest


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_COPY):
            digest.update(block)
    return digest.hexdigest()


def write(target: Path, manifest: Manifest, payload: Path) -> None:
    """Write the backup file: the manifest, then the payload."""
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        data = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(manifest.payload)
        info.size, info.mode, info.mtime = payload.stat().st_size, 0o600, int(time.time())
        with payload.open("rb") as file:
            tar.addfile(info, file)


def read_manifest(source: Path) -> Manifest:
    """The manifest of a backup file, without reading the rest."""
    with _reading(source) as tar:
        return _manifest(tar)


def extract(source: Path, into: Path) -> tuple[Manifest, Path]:
    """The manifest and the payload, copied into a folder; BackupInvalid if the payload is
    missing, of another size, or its SHA-256 is not the manifest's."""
    with _reading(source) as tar:
        manifest = _manifest(tar)
        member = _regular(tar, manifest.payload)
        stream = tar.extractfile(member)
        if stream is None:
            raise BackupInvalid(f"{manifest.payload} cannot be read")
        path = into / manifest.payload  # our own name, never a name taken from the archive
        digest = _copy(stream, path)
    if path.stat().st_size != manifest.payload_bytes or digest != manifest.payload_sha256:
        raise BackupInvalid(
            f"{manifest.payload} is not what the manifest recorded (damaged or altered): "
            f"{path.stat().st_size} bytes, SHA-256 {digest}"
        )
    return manifest, path


@contextmanager
def _reading(source: Path) -> Iterator[tarfile.TarFile]:
    """The backup, open; the archive found broken while it is read (a file cut short: tarfile
    meets the end inside a member) is BackupInvalid too, not only one that does not open."""
    with _open(source) as tar:
        try:
            yield tar
        except tarfile.TarError as exc:
            raise BackupInvalid(f"{source} is not a whole qtrack backup: {exc}") from exc


def _open(source: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(source, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise BackupInvalid(f"{source} is not a qtrack backup: {exc}") from exc


def _regular(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise BackupInvalid(f"The backup holds no {name}") from None
    if not member.isfile():
        raise BackupInvalid(f"{name} in the backup is not a file")
    return member


def _manifest(tar: tarfile.TarFile) -> Manifest:
    stream = tar.extractfile(_regular(tar, MANIFEST))
    if stream is None:
        raise BackupInvalid("The manifest cannot be read")
    return Manifest.from_json(stream.read(1024 * 1024))


def _copy(stream: IO[bytes], path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        while block := stream.read(_COPY):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()
