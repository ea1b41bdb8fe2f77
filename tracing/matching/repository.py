"""All SQL of the matcher: index probes on `serial_skeletons`, and rebuilding it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import (
    String,
    Uuid,
    and_,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from registry.markings.models import Marking
from registry.weapons.models import Weapon
from tracing.matching.description import Registered
from tracing.matching.models import SerialSkeleton
from tracing.matching.skeleton import reversed_tail, skeleton

S = SerialSkeleton
W = Weapon


@dataclass(frozen=True)
class Hit:
    weapon_id: uuid.UUID
    source: str
    source_id: uuid.UUID
    key: str


def _hits(session: Session, stmt: object) -> list[Hit]:
    return [Hit(r.weapon_id, r.source, r.source_id, r.key) for r in session.execute(stmt)]  # type: ignore[call-overload]


def _columns() -> tuple[object, ...]:
    return (S.weapon_id, S.source, S.source_id, S.key)


def by_skeletons(session: Session, length: int, skeletons: Sequence[str], *, limit: int) -> list[Hit]:
    """Rows whose skeleton is one of `skeletons` (all of `length` characters): one index probe each."""
    if not skeletons:
        return []
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: thousands of probes without thousands of bind parameters.
        wanted = bindparam("skels", list(skeletons), type_=ARRAY(String))
        cond = S.skeleton == func.any(wanted)
    else:
        # SQLite: the probe list travels as one JSON parameter and json_each unpacks it.
        sub = select(literal_column("value")).select_from(
            func.json_each(bindparam("skels", _json(skeletons)))
        )
        cond = S.skeleton.in_(sub)
    stmt = select(*_columns()).where(S.skel_len == length, cond).limit(limit)
    return _hits(session, stmt)


def _json(values: Iterable[str]) -> str:
    return orjson.dumps(list(values)).decode()


def _prefix_range(col: object, prefix: str) -> object:
    # Skeletons hold letters and digits only, so the next string after every `prefix…` is `prefix` + U+FFFF
    # in byte order (the column is "C"-collated on PostgreSQL, BINARY on SQLite).
    return and_(col >= prefix, col < prefix + "\uffff")  # type: ignore[operator]


def by_prefix(session: Session, length: int, prefix: str, *, limit: int) -> list[Hit]:
    """Rows of `length` characters whose skeleton starts with `prefix` (an index range)."""
    stmt = select(*_columns()).where(S.skel_len == length, _prefix_range(S.skeleton, prefix)).limit(limit)
    return _hits(session, stmt)


def by_suffix(session: Session, length: int, suffix: str, *, limit: int) -> list[Hit]:
    """Rows of `length` characters whose skeleton ends with `suffix` (a range on the reversed tail)."""
    rev = suffix[::-1][: len(reversed_tail(suffix))]
    stmt = select(*_columns()).where(S.skel_len == length, _prefix_range(S.skeleton_rev, rev)).limit(limit)
    return _hits(session, stmt)


def _by_ranges(
    session: Session, col_name: str, length: int, prefixes: Sequence[str], *, limit: int
) -> list[Hit]:
    """Rows of `length` characters whose `col_name` starts with one of `prefixes`: one index range each."""
    if not prefixes:
        return []
    if session.get_bind().dialect.name != "postgresql":
        # SQLite would put the table outside a join with the ranges and use only skel_len from the index;
        # one small statement per range keeps each an index range (skel_len=? AND skeleton>? AND skeleton<?).
        # Sent at the driver level: the same SQL each time, prepared once by sqlite3's statement cache (through
        # the SQL compiler, hundreds of ranges would cost more than the look-ups themselves).
        sql = (
            "SELECT weapon_id, source, source_id, key FROM serial_skeletons "
            f"WHERE skel_len = ? AND {col_name} >= ? AND {col_name} < ? LIMIT ?"
        )
        conn = session.connection()
        out: list[Hit] = []
        for p in prefixes:
            for w, src, sid, key in conn.exec_driver_sql(sql, (length, p, p + "\uffff", limit - len(out))):
                out.append(Hit(_uuid(w), src, _uuid(sid), key))
            if len(out) >= limit:
                break
        return out
    # PostgreSQL: all ranges in one statement, one index range scan each. The LATERAL subquery makes that
    # the only plan: under a plain join with LIMIT, the planner, which cannot see how narrow a prefix range
    # is, read the whole table and filtered it (12 s at 10,000,000 weapons, docs/performance.md; 0.6 ms so).
    sql = (
        "SELECT s.weapon_id, s.source, s.source_id, s.key "
        "FROM unnest(CAST(:lo AS text[]), CAST(:hi AS text[])) AS r(lo, hi) "
        "CROSS JOIN LATERAL (SELECT x.weapon_id, x.source, x.source_id, x.key FROM serial_skeletons x "
        f'WHERE x.skel_len = :n AND x.{col_name} >= r.lo COLLATE "C" AND x.{col_name} < r.hi COLLATE "C" '
        "LIMIT :lim) AS s LIMIT :lim"
    )
    stmt = text(sql).columns(
        column("weapon_id", Uuid), column("source", String), column("source_id", Uuid), column("key", String)
    )
    params = {"lo": list(prefixes), "hi": [p + "\uffff" for p in prefixes], "n": length, "lim": limit}
    return [Hit(r.weapon_id, r.source, r.source_id, r.key) for r in session.execute(stmt, params)]


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=str(value))


def by_prefixes(session: Session, length: int, prefixes: Sequence[str], *, limit: int) -> list[Hit]:
    """Rows of `length` characters whose skeleton starts with one of `prefixes`."""
    return _by_ranges(session, "skeleton", length, prefixes, limit=limit)


def by_suffixes(session: Session, length: int, suffixes: Sequence[str], *, limit: int) -> list[Hit]:
    """Rows of `length` characters whose skeleton ends with one of `suffixes` (at most 24 characters)."""
    return _by_ranges(session, "skeleton_rev", length, [x[::-1] for x in suffixes], limit=limit)


def rebuild(session: Session, *, batch: int = 10_000) -> int:
    """Recompute every row from `weapons` and `markings` (after a restore, or to check the triggers)."""
    session.execute(delete(S))
    total = 0
    rows: list[dict[str, object]] = []

    def add(source_id: uuid.UUID, source: str, weapon_id: uuid.UUID, key: str | None) -> None:
        if key:
            skel = skeleton(key)
            rows.append(
                {
                    "source_id": source_id,
                    "source": source,
                    "weapon_id": weapon_id,
                    "key": key,
                    "skel_len": len(key),
                    "skeleton": skel,
                    "skeleton_rev": reversed_tail(skel),
                }
            )

    def flush() -> None:
        nonlocal total
        if rows:
            session.execute(insert(S), rows)
            total += len(rows)
            rows.clear()

    mark_serials = set()
    for m in session.execute(select(Marking.id, Marking.weapon_id, Marking.serial, Marking.text_key)):
        add(m.id, "mark_serial", m.weapon_id, m.serial)
        if m.text_key != m.serial:
            add(m.id, "mark_text", m.weapon_id, m.text_key)
        if m.serial:
            mark_serials.add((m.weapon_id, m.serial))
        if len(rows) >= batch:
            flush()
    for w in session.execute(select(Weapon.id, Weapon.serial_key).where(Weapon.serial_key.is_not(None))):
        if (w.id, w.serial_key) not in mark_serials:
            add(w.id, "weapon_serial", w.id, w.serial_key)
        if len(rows) >= batch:
            flush()
    flush()
    return total


def count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(S)).scalar_one()


def registered(session: Session, weapon_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Registered]:
    """What a description is compared with, for each of `weapon_ids` (one statement per 5,000)."""
    cols = (W.id, W.make, W.manufacturer_code, W.model, W.calibre, W.category, W.country_of_manufacture,
            W.year_of_manufacture)  # fmt: skip
    out: dict[uuid.UUID, Registered] = {}
    ids = list(weapon_ids)
    for i in range(0, len(ids), 5_000):
        chunk = ids[i : i + 5_000]
        if session.get_bind().dialect.name == "postgresql":
            cond = W.id == func.any(bindparam("ids", chunk, type_=ARRAY(Uuid)))
        else:
            # SQLite stores the id as 32 hex digits; the list travels as one JSON parameter.
            sub = select(literal_column("value")).select_from(
                func.json_each(bindparam("ids", _json(u.hex for u in chunk)))
            )
            cond = W.id.in_(sub)
        for r in session.execute(select(*cols).where(cond)):
            out[r[0]] = Registered(*r[1:])
    return out
