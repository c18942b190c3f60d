"""Checking the chains against checkpoints, from the database and from a file kept elsewhere.

What is checked (docs/audit.md says what that proves):
- the checkpoints' own chain: consecutive numbers, each hash over its content, each linked to
  the one before, each signature valid under the key it names;
- every head a checkpoint recorded is still reachable: the event at that seq still exists
  and still has that hash (a deleted or rewound tail, a rewritten history, named by item);
- the recorded heads are all there (their digest is signed);
- the latest checkpoint's totals still hold: the heads recomputed from the events up to its
  cutoff give the digest it signed (nothing was inserted into the past);
- a checkpoint kept in the file is still in the database, unchanged.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.audit import exported, heads
from qtrack.audit import service as audit_service
from qtrack.audit.exported import BadLine, HeadsLine, Signed
from qtrack.audit.heads import Head
from qtrack.audit.models import Checkpoint
from qtrack.audit.statement import HeadsDigest, Statement, signature_valid
from qtrack.signing import keys

BATCH = 5_000  # recorded heads looked up per query
SHOW_ITEMS = 20  # items named at most; the rest are counted


@dataclass
class CheckpointReport:
    """What checking against the checkpoints found."""

    checkpoints: int = 0  # in the database
    in_file: int = 0
    latest: Statement | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Lost:
    """A recorded head that is no longer in its chain: the latest checkpoint's, per item."""

    checkpoint: int
    head: Head
    found: str | None  # the hash at that seq now, None when the event is gone
    source: str


async def verify_checkpoints(
    session: AsyncSession,
    *,
    file: Iterable[bytes] | None = None,
    file_name: str = "the file",
    public_keys: Mapping[int, Ed25519PublicKey] | None = None,
) -> CheckpointReport:
    """Check the checkpoints in the database (and in an exported file) against the chains."""
    if public_keys is None:  # fresh from the table: a key may be seconds old
        public_keys = {
            row.id: Ed25519PublicKey.from_public_bytes(row.public_key)
            for row in await keys.list_keys(session)
        }
    rows = (await session.scalars(select(Checkpoint).order_by(Checkpoint.id))).all()
    stored = [Signed(Statement.of(r), r.hash, r.signature) for r in rows]
    report = CheckpointReport(checkpoints=len(stored))
    lost: dict[int, _Lost] = {}
    problems, valid = _check_chain(stored, public_keys, "the database", first=1)
    problems += await _check_stored_heads(session, stored, lost)
    latest = [s.statement for s in stored if s.statement.id in valid][-1:]
    if file is not None:
        kept, file_problems = await _check_file(session, file, file_name, lost)
        chain_problems, kept_ok = _check_chain(kept, public_keys, file_name)
        report.in_file = len(kept)
        problems += chain_problems + file_problems
        kept_valid = [s for s in kept if s.statement.id in kept_ok]
        problems += _compare(stored, kept_valid, file_name)
        if kept_valid and (not latest or kept_valid[-1].statement.id > latest[0].id):
            latest.append(kept_valid[-1].statement)
    report.latest = max(latest, key=lambda s: s.id) if latest else None
    problems += await _describe_lost(session, lost)
    if not lost:
        for statement in latest:
            problems += await _check_totals(session, statement)
    report.problems = problems
    return report


def _check_chain(
    chain: Sequence[Signed],
    public_keys: Mapping[int, Ed25519PublicKey],
    where: str,
    *,
    first: int | None = None,
) -> tuple[list[str], set[int]]:
    """Problems with the checkpoints' own chain, and the numbers of those that are sound."""
    problems: list[str] = []
    valid: set[int] = set()
    previous: Signed | None = None
    expected = first
    for signed in chain:
        st = signed.statement
        name = f"checkpoint {st.id}" + (f" in {where}" if where != "the database" else "")
        if expected is not None and st.id != expected:
            missing = f"{expected}" if st.id == expected + 1 else f"{expected} to {st.id - 1}"
            problems.append(f"checkpoint {missing} is missing from {where}")
        expected = st.id + 1
        key = public_keys.get(st.key_id)
        if st.hash() != signed.hash:
            problems.append(f"{name} was altered: its hash does not match its content")
        elif (
            previous is not None
            and previous.statement.id == st.id - 1
            and (st.prev_hash != previous.hash)
        ):
            problems.append(f"{name} does not link to checkpoint {st.id - 1}")
        elif key is None:
            problems.append(f"{name} is signed with key {st.key_id}, which is not published")
        elif not signature_valid(st, signed.signature, key):
            problems.append(
                f"{name} has a forged signature: it does not verify with key {st.key_id}"
            )
        else:
            valid.add(st.id)
        previous = signed
    return problems, valid


def _lose(
    lost: dict[int, _Lost], checkpoint: int, head: Head, found: str | None, source: str
) -> None:
    known = lost.get(head.item_id)
    if known is None or known.checkpoint < checkpoint:
        lost[head.item_id] = _Lost(checkpoint, head, found, source)


async def _reach(
    session: AsyncSession, batch: list[tuple[int, Head]], lost: dict[int, _Lost], source: str
) -> None:
    """Look the batch's heads up in the chains; note those that are gone or different."""
    found = await heads.hashes_at(session, [(h.item_id, h.seq) for _, h in batch])
    for checkpoint, head in batch:
        key = (head.item_id, head.seq)
        now = found.get(key)
        if key in found and now is None:  # inside an archived stretch: gone with its partition
            continue
        if now != head.hash:
            _lose(lost, checkpoint, head, now, source)


def _digest_problem(st: Statement, digest: HeadsDigest, where: str) -> list[str]:
    if digest.count == st.changed and digest.hexdigest() == st.changed_digest:
        return []
    return [
        f"checkpoint {st.id}: the {st.changed} heads it recorded were removed or altered in "
        f"{where} ({digest.count} there, not matching its signed digest)"
    ]


async def _check_stored_heads(
    session: AsyncSession, stored: Sequence[Signed], lost: dict[int, _Lost]
) -> list[str]:
    """The heads rows in the database: complete (as signed), and each still reachable."""
    statements = {s.statement.id: s.statement for s in stored}
    digests = {number: HeadsDigest() for number in statements}
    upto = max(statements, default=0)
    after = (0, 0)
    while True:
        page = await audit_service.recorded_heads_now(session, after=after, upto=upto, limit=BATCH)
        if not page:
            break
        for number, head, now in page:
            if number in digests:
                digests[number].add(head)
            if now != head.hash:
                _lose(lost, number, head, now, "the database")
        after = (page[-1][0], page[-1][1].item_id)
    problems = []
    for number, st in statements.items():
        problems += _digest_problem(st, digests[number], "the database")
    return problems


async def _check_file(
    session: AsyncSession,
    lines: Iterable[bytes],
    name: str,
    lost: dict[int, _Lost],
) -> tuple[list[Signed], list[str]]:
    """The checkpoints in an export file, with their heads complete and each still reachable."""
    kept: list[Signed] = []
    problems: list[str] = []
    digest = HeadsDigest()
    batch: list[tuple[int, Head]] = []
    try:
        for number, line in exported.read(lines):
            if isinstance(line, Signed):
                if kept:
                    problems += _digest_problem(kept[-1].statement, digest, name)
                kept.append(line)
                digest = HeadsDigest()
                continue
            assert isinstance(line, HeadsLine)
            if not kept or line.checkpoint != kept[-1].statement.id:
                raise BadLine(f"line {number}: heads of checkpoint {line.checkpoint} out of place")
            for head in line.heads:
                digest.add(head)
                batch.append((line.checkpoint, head))
            if len(batch) >= BATCH:
                await _reach(session, batch, lost, name)
                batch = []
    except BadLine as exc:
        return kept, [f"{name} is not a checkpoints export: {exc}"]
    await _reach(session, batch, lost, name)
    if kept:
        problems += _digest_problem(kept[-1].statement, digest, name)
    return kept, problems


def _compare(stored: Sequence[Signed], kept: Sequence[Signed], name: str) -> list[str]:
    """Each sound checkpoint kept in the file must be in the database, unchanged."""
    by_id = {s.statement.id: s for s in stored}
    problems = []
    for signed in kept:
        st = signed.statement
        there = by_id.get(st.id)
        if there is None:
            problems.append(
                f"checkpoint {st.id} (kept in {name}, made {st.created_at:%Y-%m-%d %H:%M} UTC) "
                "is missing from the database: it was removed"
            )
        elif there.hash != signed.hash:
            problems.append(
                f"checkpoint {st.id} in the database is not the one kept in {name}: it was replaced"
            )
    return problems


async def _describe_lost(session: AsyncSession, lost: dict[int, _Lost]) -> list[str]:
    """One line per item whose recorded head is gone: deleted tail or rewritten history."""
    shown = sorted(lost)[:SHOW_ITEMS]
    lengths = await heads.chain_lengths(session, shown)
    codes = await heads.item_codes(session, shown)
    problems = []
    for item_id in shown:
        entry = lost[item_id]
        head, now = entry.head, lengths.get(item_id, 0)
        name = f"item {codes[item_id]}" if item_id in codes else f"item #{item_id} (deleted)"
        said = f"checkpoint {entry.checkpoint}"
        if entry.source != "the database":
            said += f" (kept in {entry.source})"
        if entry.found is None and now < head.seq:
            problems.append(
                f"{name}: {said} recorded {head.seq} events ending {head.hash[:12]}, the chain "
                f"now has {now}: events were deleted from its end"
            )
        elif entry.found is None:
            problems.append(f"{name}: event {head.seq}, which {said} recorded, is gone")
        else:
            problems.append(
                f"{name}: {said} recorded event {head.seq} as {head.hash[:12]}, it is now "
                f"{entry.found[:12]}: the history was rewritten"
            )
    if len(lost) > len(shown):
        problems.append(f"... and {len(lost) - len(shown)} more items the same way")
    return problems


async def _check_totals(session: AsyncSession, st: Statement) -> list[str]:
    """The heads recomputed from the events up to the cutoff must give the signed digest."""
    every = HeadsDigest()
    events, after = 0, 0
    while True:
        page = await heads.recomputed_heads(
            session, st.last_event_id, after_item=after, limit=audit_service.ITEMS_PER_READ
        )
        if not page:
            break
        for head in page:
            every.add(head)
            events += head.seq
        after = page[-1].item_id
    if every.hexdigest() == st.heads_digest:
        return []
    return [
        f"checkpoint {st.id}: the events up to #{st.last_event_id} no longer give the heads it "
        f"signed ({st.events} events in {st.items} items then, {events} in {every.count} now): "
        "events before it were removed or inserted"
    ]
