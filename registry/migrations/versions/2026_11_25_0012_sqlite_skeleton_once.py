"""matcher: SQLite skeleton triggers that compute each skeleton once (about 20 times cheaper per mark)

Migration 0008's SQLite triggers name the skeleton 25 times in the outer select (the skeleton and each
character of its reversed tail). SQLite flattens the staged sub-selects into it and so evaluates the 40
nested `replace()` calls once per mention: about 2 ms a mark, paid by every registration and import on
SQLite (docs/performance.md, findings of the fuzzy search). `LIMIT -1 OFFSET 0` keeps the staged select
from being flattened (SQLite does not flatten a sub-query with an OFFSET), so the skeleton is computed once.
Same rows as before: `tests/tracing/matching/test_skeleton.py` checks the triggers against Python.
PostgreSQL's triggers are unchanged.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in migration 0008 (migrations are frozen: copied, not imported).
SKELETON_FROM = "ODQIL7ZSGBАВЕЗІЈКМНОРСЅТУХΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
SKELETON_TO = "0001112568A8E31JKMH0PC5TYXA8E2H1KMN0PTYX"
REVERSED_TAIL = 24
COLUMNS = "(source_id, source, weapon_id, key, skel_len, skeleton, skeleton_rev)"


def _staged(source: str, *, once: bool) -> str:
    """`source` selects `i`, `w` and `k`; adds `sk`, the skeleton, ten replace() calls per sub-select (SQLite's
    parser refuses 40 nested). With `once`, the result is not flattened into the caller."""
    pairs = list(zip(SKELETON_FROM, SKELETON_TO, strict=True))
    prev, sql = "k", source
    for n, start in enumerate(range(0, len(pairs), 10)):
        expr = prev
        for src, dst in pairs[start : start + 10]:
            expr = f"replace({expr}, '{src}', '{dst}')"
        sql = f"SELECT i, w, k, {expr} AS s{n} FROM ({sql})"
        prev = f"s{n}"
    return f"SELECT i, w, k, {prev} AS sk FROM ({sql})" + (" LIMIT -1 OFFSET 0" if once else "")


def _insert(source: str, select: str, *, once: bool) -> str:
    rev = " || ".join(f"substr(sk, -{i}, 1)" for i in range(1, REVERSED_TAIL + 1))
    return (
        f"INSERT INTO serial_skeletons {COLUMNS} "
        f"SELECT i, '{source}', w, k, length(k), sk, {rev} FROM ({_staged(select, once=once)})"
    )


def _triggers(*, once: bool) -> list[str]:
    mark_serial = _insert(
        "mark_serial",
        "SELECT NEW.id AS i, NEW.weapon_id AS w, NEW.serial AS k WHERE NEW.serial IS NOT NULL AND NEW.serial <> ''",
        once=once,
    )
    mark_text = _insert(
        "mark_text",
        "SELECT NEW.id AS i, NEW.weapon_id AS w, NEW.text_key AS k "
        "WHERE NEW.text_key <> '' AND NEW.text_key IS NOT NEW.serial",
        once=once,
    )
    weapon_serial = _insert(
        "weapon_serial",
        "SELECT NEW.id AS i, NEW.id AS w, NEW.serial_key AS k "
        "WHERE NEW.serial_key IS NOT NULL AND NEW.serial_key <> ''",
        once=once,
    )
    return [
        "DROP TRIGGER IF EXISTS trg_weapons_skeleton",
        "DROP TRIGGER IF EXISTS trg_markings_skeleton",
        "CREATE TRIGGER trg_weapons_skeleton AFTER INSERT ON weapons BEGIN " + weapon_serial + "; END",
        "CREATE TRIGGER trg_markings_skeleton AFTER INSERT ON markings BEGIN "
        "DELETE FROM serial_skeletons WHERE NEW.serial IS NOT NULL AND source_id = NEW.weapon_id "
        "AND source = 'weapon_serial' AND key = NEW.serial; " + mark_serial + "; " + mark_text + "; END",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for stmt in _triggers(once=True):
            op.execute(stmt)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for stmt in _triggers(once=False):
            op.execute(stmt)
