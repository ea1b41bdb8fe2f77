"""`iti audit verify`: recompute the whole log from the database and compare with what was signed.

Checks, in one streaming pass over the entries in sequence order:
1. sequence numbers are 0, 1, 2… (a gap is a deleted entry);
2. each entry's body names its own sequence number and matches its query columns (reordering, editing);
3. each stored leaf hash is the hash of the body (editing the body);
4. the root recomputed from the bodies equals the root of every signed tree head at its size, and each head's
   signature verifies with its registered key (a rewrite that recomputed the stored hashes too);
5. the rows of audited tables are exactly the rows the log says were written: compared as sums of per-row
   tokens (constant memory), then, only if they differ, row by row to name the culprit.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session

from registry.audit import canonical, merkle, record_form
from registry.audit import repository as repo
from registry.audit.service import as_tree_head, columns_of
from registry.audit.signing import verify_tree_head
from registry.db import Base

_MOD = 1 << 256


@dataclass(frozen=True)
class Problem:
    kind: str  # missing | reordered | altered | head_mismatch | bad_signature | record_altered | ...
    message: str
    seq: int | None = None


@dataclass
class VerifyReport:
    entries: int = 0
    tree_heads: int = 0
    records: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def verify(session: Session, *, check_records: bool = True) -> VerifyReport:
    report = VerifyReport()
    heads = repo.tree_heads(session)
    keys = repo.all_keys(session)
    head_iter = iter(heads)
    next_head = next(head_iter, None)
    acc = merkle.MerkleAccumulator()
    log_tokens = _TokenSum()
    expected = 0
    last_good_head = 0

    def check_heads_at(size: int) -> None:
        nonlocal next_head, last_good_head
        while next_head is not None and next_head.tree_size == size:
            _check_head(report, next_head, acc.root(), keys, after=last_good_head)
            if not report.problems:
                last_good_head = size
            report.tree_heads += 1
            next_head = next(head_iter, None)

    check_heads_at(0)
    next_size = next_head.tree_size if next_head is not None else -1
    sha256 = hashlib.sha256
    parse = canonical.parse_body
    # The hot loop of a national log: the common case (an intact entry) costs one hash, one parse and one
    # Merkle append; anything odd drops to `_check_entry`, which says exactly what is wrong.
    for seq, actor, action, subject, raw_body, stored_leaf in repo.stream_entries(session):
        if seq != expected:
            report.problems.append(
                Problem(
                    "missing",
                    f"entry {expected} is missing (deleted): the log jumps from {expected - 1} to {seq}",
                    expected,
                )
            )
            return report
        body = raw_body if type(raw_body) is bytes else bytes(raw_body)
        leaf = sha256(b"\x00" + body).digest()
        try:
            parsed = parse(body)
            intact = (
                leaf == stored_leaf
                and parsed["seq"] == seq
                and parsed["actor"] == actor
                and parsed["action"] == action
                and parsed["subject"] == subject
            )
        except (ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            problem = _check_entry(seq, actor, action, subject, body, bytes(stored_leaf), leaf)
            report.problems.append(problem or Problem("altered", f"entry {seq} is altered", seq))
            return report
        if check_records:
            log_tokens.add_parsed(parsed)
        acc.append(leaf)
        expected += 1
        if expected == next_size:
            check_heads_at(expected)
            if report.problems:
                return report
            next_size = next_head.tree_size if next_head is not None else -1
    report.entries = expected
    if next_head is not None:
        report.problems.append(
            Problem(
                "truncated",
                f"tree head #{next_head.id} covers {next_head.tree_size} entries but the log has "
                f"only {expected}: entries from {expected} on were deleted",
                expected,
            )
        )
        return report
    logged = repo.next_seq(session)
    if logged != expected:
        # Without a head over them, deleted last entries leave no gap: only the log's own count shows it.
        report.problems.append(
            Problem(
                "truncated",
                f"the log state counts {logged} entries but {expected} are stored: "
                + (f"entries from {expected} on were deleted" if logged > expected else "entries were added"),
                min(expected, logged),
            )
        )
        return report
    if check_records:
        _check_records(session, report, log_tokens)
    return report


def _check_entry(
    seq: int, actor: str, action: str, subject: str | None, body: bytes, stored_leaf: bytes, leaf: bytes
) -> Problem | None:
    try:
        parsed = canonical.parse_body(body)
    except ValueError:
        return Problem("altered", f"entry {seq} is altered: its body is not valid canonical JSON", seq)
    if parsed.get("seq") != seq:
        return Problem(
            "reordered",
            f"entry {seq} holds the body of entry {parsed.get('seq')}: entries were reordered or inserted",
            seq,
        )
    if (parsed.get("actor"), parsed.get("action"), parsed.get("subject")) != (actor, action, subject):
        return Problem(
            "altered",
            f"entry {seq} is altered: its actor/action/subject columns differ from its hashed body",
            seq,
        )
    if stored_leaf != leaf:
        return Problem("altered", f"entry {seq} is altered: its body no longer hashes to its leaf hash", seq)
    return None


def _check_head(report: VerifyReport, head: Any, root: bytes, keys: dict[str, bytes], *, after: int) -> None:
    public = keys.get(head.key_id)
    if public is None or not verify_tree_head(public, as_tree_head(head), bytes(head.signature)):
        report.problems.append(
            Problem(
                "bad_signature",
                f"tree head #{head.id} (size {head.tree_size}) has no valid signature "
                f"from a registered key ({head.key_id})",
                None,
            )
        )
    elif bytes(head.root_hash) != root:
        report.problems.append(
            Problem(
                "head_mismatch",
                f"entries {after}..{head.tree_size - 1} were rewritten after tree head "
                f"#{head.id} was signed: their recomputed root differs from the signed root",
                after,
            )
        )


class _TokenSum:
    """Sum of (table, id, digest) tokens the log says exist now: creations add, purges subtract."""

    def __init__(self) -> None:
        self.total = 0
        self.latest: dict[tuple[str, str], str] = {}

    def add_entry(self, body: bytes) -> None:
        self.add_parsed(canonical.parse_body(body))

    def add_parsed(self, parsed: dict[str, Any]) -> None:
        sign = -1 if parsed["action"] == "records.purged" else 1
        for table, rid, digest in parsed["records"]:
            if table in canonical.APPEND_ONLY_TABLES:
                self.total = (self.total + sign * canonical.record_token(digest)) % _MOD
            elif table in canonical.MUTABLE_TABLES:
                if sign < 0:
                    self.latest.pop((table, rid), None)
                else:
                    self.latest[(table, rid)] = digest


def _stream_rows(session: Session, table: str, batch: int = 20_000) -> Iterator[tuple[str, str]]:
    """(id, digest) of every row, read raw from the driver and brought to the canonical form
    (`record_form`): for SQLite that is nearly no conversion at all, which keeps a million-weapon check fast."""
    conn = session.connection()
    keys = columns_of(table)
    plan = record_form.raw_plan(table, conn.dialect.name)
    quote = conn.dialect.identifier_preparer.quote
    sql = (
        f"SELECT {', '.join(quote(Base.metadata.tables[table].c[k].name) for k in keys)} FROM {quote(table)}"
    )
    id_index = keys.index("id")
    digest = record_form.digest
    with conn.exec_driver_sql(sql, execution_options={"stream_results": True}) as result:
        for rows in result.partitions(batch):
            for raw in rows:
                values = record_form.from_raw(plan, raw)
                rid = values[id_index]
                yield str(uuid.UUID(hex=rid)), digest(table, values).hex()


def _table_sum(session: Session, table: str, batch: int = 20_000) -> tuple[int, int]:
    """(rows, sum of row digests mod 2^256) of a whole table: the fast path, no ids, no hex."""
    conn = session.connection()
    plan = record_form.raw_plan(table, conn.dialect.name)
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in Base.metadata.tables[table].columns)
    sha256, dumps, from_raw = hashlib.sha256, orjson.dumps, record_form.from_raw
    option = orjson.OPT_SORT_KEYS
    total = count = 0
    sql = f"SELECT {names} FROM {quote(table)}"
    with conn.exec_driver_sql(sql, execution_options={"stream_results": True}) as result:
        for rows in result.partitions(batch):
            for raw in rows:
                values = from_raw(plan, raw)
                total += int.from_bytes(sha256(dumps([table, values], option=option)).digest(), "big")
            count += len(rows)
            total %= _MOD
    return count, total


def _check_records(session: Session, report: VerifyReport, log: _TokenSum) -> None:
    total = 0
    for table in canonical.APPEND_ONLY_TABLES:
        rows, table_total = _table_sum(session, table)
        total = (total + table_total) % _MOD
        report.records += rows
    if total != log.total:
        report.problems.append(_locate_record_difference(session))
        return
    for table in canonical.MUTABLE_TABLES:
        seen = set()
        for rid, digest in _stream_rows(session, table):
            report.records += 1
            seen.add(rid)
            logged = log.latest.get((table, rid))
            if logged is None:
                report.problems.append(
                    Problem(
                        "record_unlogged",
                        f"{table} row {rid} has no audit entry: it was written outside the registry",
                        None,
                    )
                )
                return
            if logged != digest:
                report.problems.append(
                    Problem(
                        "record_altered",
                        f"{table} row {rid} differs from its last "
                        "audited state: it was changed outside the registry",
                        None,
                    )
                )
                return
        missing = [rid for (t, rid) in log.latest if t == table and rid not in seen]
        if missing:
            report.problems.append(
                Problem("record_deleted", f"{table} row {missing[0]} was deleted outside the registry", None)
            )
            return


def _locate_record_difference(session: Session) -> Problem:
    """Slow path, only after the sums differ: map every logged record to its entry and compare."""
    logged: dict[tuple[str, str], tuple[str, int]] = {}
    for seq, _actor, action, _subject, body, _leaf in repo.stream_entries(session):
        parsed = canonical.parse_body(bytes(body))
        for table, rid, digest in parsed["records"]:
            if table in canonical.APPEND_ONLY_TABLES:
                if action == "records.purged":
                    logged.pop((table, rid), None)
                else:
                    logged[(table, rid)] = (digest, seq)
    for table in canonical.APPEND_ONLY_TABLES:
        for rid, digest in _stream_rows(session, table):
            entry = logged.pop((table, rid), None)
            if entry is None:
                return Problem(
                    "record_unlogged",
                    f"{table} row {rid} has no audit entry: it was inserted outside the registry",
                    None,
                )
            if entry[0] != digest:
                return Problem(
                    "record_altered",
                    f"{table} row {rid} was altered outside the registry: it differs "
                    f"from what audit entry {entry[1]} recorded",
                    entry[1],
                )
    (table, rid), (_digest, seq) = next(iter(logged.items()))
    return Problem(
        "record_deleted",
        f"{table} row {rid}, recorded by audit entry {seq}, was deleted outside the registry",
        seq,
    )
