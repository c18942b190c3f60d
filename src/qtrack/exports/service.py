"""Exports: a source's rows written as CSV, `.xlsx` or JSON Lines, streamed.

One implementation for the API, the pages (their Export buttons lead to the API) and
`qtrack export`. Rows are read in keyset batches inside one read-only snapshot, and each
batch is written out before the next is read, so memory stays flat however many rows there
are. CSV and JSON Lines leave batch by batch; a workbook is a zip that is only complete at
its end, so it is built in a temporary file (off the event loop) and then sent.
"""

import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path

import anyio

from qtrack.core.db import Database
from qtrack.exports.formats import CsvWriter, Format, JsonLinesWriter, XlsxWriter
from qtrack.exports.sources import BATCH, Keyset

CHUNK = 256 * 1024  # bytes a read of a finished workbook


async def stream(
    db: Database,
    source: Keyset,
    fmt: Format,
    *,
    batch: int = BATCH,
    counted: Callable[[int], object] | None = None,
) -> AsyncGenerator[bytes, None]:
    """The export as bytes, a batch of rows at a time, all read in one snapshot; `counted`
    hears how many rows each batch held."""
    if fmt == "xlsx":
        async for chunk in _workbook(db, source, batch, counted):
            yield chunk
        return
    if fmt == "csv":
        table = CsvWriter(source.columns)
        yield table.head()
        encode = table.rows
    else:
        encode = JsonLinesWriter(source.columns).rows
    async with db.snapshot_scope() as session:
        async for rows in source.batches(session, batch):
            if counted is not None:
                counted(len(rows))
            yield encode(rows)


async def _workbook(
    db: Database, source: Keyset, batch: int, counted: Callable[[int], object] | None
) -> AsyncIterator[bytes]:
    with tempfile.TemporaryDirectory(prefix="qtrack-export-") as tmp:
        path = Path(tmp) / f"{source.kind}.xlsx"
        writer = XlsxWriter(path, source.columns, sheet=source.kind)
        async with db.snapshot_scope() as session:
            async for rows in source.batches(session, batch):
                if counted is not None:
                    counted(len(rows))
                # Writing cells is CPU work: a thread keeps the event loop serving meanwhile.
                await anyio.to_thread.run_sync(writer.rows, rows)
        await anyio.to_thread.run_sync(writer.close)
        with path.open("rb") as workbook:
            while chunk := await anyio.to_thread.run_sync(workbook.read, CHUNK):
                yield chunk
