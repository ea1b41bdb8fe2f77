"""tracing: the matcher's skeleton table with its triggers, trace requests, transitions, attachments (issue 4)

`serial_skeletons` is derived data, like an index: AFTER INSERT triggers on `weapons` and `markings` keep it
complete whatever path writes the registry, and existing rows are copied in here. The skeleton function is
written out literally (migrations are frozen); `tests/tracing/matching/test_skeleton.py` checks it equals
`tracing.matching.skeleton.skeleton`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import registry.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Confusable classes (0/O/D/Q, 1/I/L/7, 2/Z, 5/S, 6/G, 8/B) and Cyrillic/Greek look-alikes, source -> target.
SKELETON_FROM = "ODQIL7ZSGBАВЕЗІЈКМНОРСЅТУХΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
SKELETON_TO = "0001112568A8E31JKMH0PC5TYXA8E2H1KMN0PTYX"
REVERSED_TAIL = 24
COLUMNS = "(source_id, source, weapon_id, key, skel_len, skeleton, skeleton_rev)"


def _sqlite_staged(source: str) -> str:
    """`source` selects `i` (row id), `w` (weapon id) and `k` (key); adds `sk`, the skeleton. SQLite's parser
    refuses 40 nested replace() calls, so they are applied ten at a time in nested sub-selects."""
    pairs = list(zip(SKELETON_FROM, SKELETON_TO, strict=True))
    prev, sql = "k", source
    for n, start in enumerate(range(0, len(pairs), 10)):
        expr = prev
        for src, dst in pairs[start : start + 10]:
            expr = f"replace({expr}, '{src}', '{dst}')"
        sql = f"SELECT i, w, k, {expr} AS s{n} FROM ({sql})"
        prev = f"s{n}"
    return f"SELECT i, w, k, {prev} AS sk FROM ({sql})"


def _sqlite_reversed(expr: str) -> str:
    return " || ".join(f"substr({expr}, -{i}, 1)" for i in range(1, REVERSED_TAIL + 1))


def _sqlite_insert(source: str, select: str) -> str:
    return (
        f"INSERT INTO serial_skeletons {COLUMNS} "
        f"SELECT i, '{source}', w, k, length(k), sk, {_sqlite_reversed('sk')} FROM ({_sqlite_staged(select)})"
    )


def _sqlite_statements() -> list[str]:
    mark_serial = _sqlite_insert(
        "mark_serial",
        "SELECT NEW.id AS i, NEW.weapon_id AS w, NEW.serial AS k WHERE NEW.serial IS NOT NULL AND NEW.serial <> ''",
    )
    mark_text = _sqlite_insert(
        "mark_text",
        "SELECT NEW.id AS i, NEW.weapon_id AS w, NEW.text_key AS k "
        "WHERE NEW.text_key <> '' AND NEW.text_key IS NOT NEW.serial",
    )
    weapon_serial = _sqlite_insert(
        "weapon_serial",
        "SELECT NEW.id AS i, NEW.id AS w, NEW.serial_key AS k "
        "WHERE NEW.serial_key IS NOT NULL AND NEW.serial_key <> ''",
    )
    return [
        "CREATE TRIGGER trg_weapons_skeleton AFTER INSERT ON weapons BEGIN " + weapon_serial + "; END",
        "CREATE TRIGGER trg_markings_skeleton AFTER INSERT ON markings BEGIN "
        "DELETE FROM serial_skeletons WHERE NEW.serial IS NOT NULL AND source_id = NEW.weapon_id "
        "AND source = 'weapon_serial' AND key = NEW.serial; " + mark_serial + "; " + mark_text + "; END",
    ]


PG_FUNCTIONS = f"""
CREATE FUNCTION iti_skeleton(value text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT translate(value, '{SKELETON_FROM}', '{SKELETON_TO}') $$;

CREATE FUNCTION iti_skeleton_row(src uuid, kind text, weapon uuid, k text) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO serial_skeletons {COLUMNS}
          SELECT src, kind, weapon, k, length(k), s, left(reverse(s), {REVERSED_TAIL})
          FROM (SELECT iti_skeleton(k) AS s) AS x $$;

CREATE FUNCTION iti_skeleton_of_weapon() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.serial_key IS NOT NULL AND NEW.serial_key <> '' THEN
        PERFORM iti_skeleton_row(NEW.id, 'weapon_serial', NEW.id, NEW.serial_key);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION iti_skeleton_of_marking() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.serial IS NOT NULL AND NEW.serial <> '' THEN
        DELETE FROM serial_skeletons
            WHERE source_id = NEW.weapon_id AND source = 'weapon_serial' AND key = NEW.serial;
        PERFORM iti_skeleton_row(NEW.id, 'mark_serial', NEW.weapon_id, NEW.serial);
    END IF;
    IF NEW.text_key <> '' AND NEW.text_key IS DISTINCT FROM NEW.serial THEN
        PERFORM iti_skeleton_row(NEW.id, 'mark_text', NEW.weapon_id, NEW.text_key);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER trg_weapons_skeleton AFTER INSERT ON weapons
    FOR EACH ROW EXECUTE FUNCTION iti_skeleton_of_weapon();
CREATE TRIGGER trg_markings_skeleton AFTER INSERT ON markings
    FOR EACH ROW EXECUTE FUNCTION iti_skeleton_of_marking();
"""

PG_BACKFILL = """
SELECT iti_skeleton_row(id, 'mark_serial', weapon_id, serial) FROM markings WHERE serial IS NOT NULL AND serial <> '';
SELECT iti_skeleton_row(id, 'mark_text', weapon_id, text_key) FROM markings
    WHERE text_key <> '' AND text_key IS DISTINCT FROM serial;
SELECT iti_skeleton_row(w.id, 'weapon_serial', w.id, w.serial_key) FROM weapons w
    WHERE w.serial_key IS NOT NULL AND w.serial_key <> '' AND NOT EXISTS (
        SELECT 1 FROM markings m WHERE m.weapon_id = w.id AND m.serial = w.serial_key);
"""


def _sqlite_backfill() -> list[str]:
    return [
        _sqlite_insert(
            "mark_serial",
            "SELECT id AS i, weapon_id AS w, serial AS k FROM markings WHERE serial IS NOT NULL AND serial <> ''",
        ),
        _sqlite_insert(
            "mark_text",
            "SELECT id AS i, weapon_id AS w, text_key AS k FROM markings "
            "WHERE text_key <> '' AND text_key IS NOT serial",
        ),
        _sqlite_insert(
            "weapon_serial",
            "SELECT wp.id AS i, wp.id AS w, wp.serial_key AS k FROM weapons wp "
            "WHERE wp.serial_key IS NOT NULL AND wp.serial_key <> '' AND NOT EXISTS ("
            "SELECT 1 FROM markings m WHERE m.weapon_id = wp.id AND m.serial = wp.serial_key)",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "serial_skeletons",
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("weapon_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("skel_len", sa.Integer(), nullable=False),
        sa.Column(
            "skeleton",
            sa.String(length=300).with_variant(sa.VARCHAR(length=300, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "skeleton_rev",
            sa.String(length=300).with_variant(sa.VARCHAR(length=300, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "source IN ('weapon_serial', 'mark_serial', 'mark_text')", name=op.f("ck_serial_skeletons_source")
        ),
        sa.ForeignKeyConstraint(
            ["weapon_id"],
            ["weapons.id"],
            name=op.f("fk_serial_skeletons_weapon_id_weapons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "source", name=op.f("pk_serial_skeletons")),
    )
    with op.batch_alter_table("serial_skeletons", schema=None) as batch_op:
        batch_op.create_index("ix_serial_skeletons_len_reversed", ["skel_len", "skeleton_rev"], unique=False)
        batch_op.create_index("ix_serial_skeletons_len_skeleton", ["skel_len", "skeleton"], unique=False)
        batch_op.create_index(batch_op.f("ix_serial_skeletons_weapon_id"), ["weapon_id"], unique=False)

    op.create_table(
        "trace_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requesting_country", sa.String(length=2), nullable=False),
        sa.Column("requesting_poc", sa.JSON(), nullable=False),
        sa.Column("requested_country", sa.String(length=2), nullable=False),
        sa.Column("case_reference", sa.String(length=120), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("confidentiality", sa.String(length=16), nullable=False),
        sa.Column("illicit_nature", sa.Text(), nullable=False),
        sa.Column("legal_justification", sa.Text(), nullable=False),
        sa.Column("intended_use", sa.Text(), nullable=False),
        sa.Column("intended_use_code", sa.String(length=32), nullable=True),
        sa.Column("markings", sa.JSON(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=True),
        sa.Column("make", sa.String(length=200), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("calibre", sa.String(length=60), nullable=True),
        sa.Column("other_info", sa.Text(), nullable=False),
        sa.Column("recovery_kind", sa.String(length=16), nullable=True),
        sa.Column("recovered_on", sa.Date(), nullable=True),
        sa.Column("recovery_place", sa.String(length=300), nullable=True),
        sa.Column("weapon_id", sa.Uuid(), nullable=True),
        sa.Column("follow_up_of", sa.Uuid(), nullable=True),
        sa.Column("lost_stolen_check", sa.JSON(), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=True),
        sa.Column("completeness", sa.String(length=8), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("expected_by", sa.Date(), nullable=True),
        sa.Column("ack_due", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer_due", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("sent_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "completeness IS NULL OR completeness IN ('full', 'partial')",
            name=op.f("ck_trace_requests_completeness"),
        ),
        sa.CheckConstraint(
            "confidentiality IN ('restricted', 'confidential', 'secret')",
            name=op.f("ck_trace_requests_confidentiality"),
        ),
        sa.CheckConstraint("direction IN ('outgoing', 'incoming')", name=op.f("ck_trace_requests_direction")),
        sa.CheckConstraint(
            "recovery_kind IS NULL OR recovery_kind IN ('seized', 'found', 'surrendered')",
            name=op.f("ck_trace_requests_recovery_kind"),
        ),
        sa.CheckConstraint(
            "state IN ('draft', 'sent', 'delivered', 'acknowledged', 'answered', 'delayed', 'restricted', 'refused', 'closed')",
            name=op.f("ck_trace_requests_state"),
        ),
        sa.CheckConstraint("urgency IN ('routine', 'urgent')", name=op.f("ck_trace_requests_urgency")),
        sa.ForeignKeyConstraint(
            ["follow_up_of"],
            ["trace_requests.id"],
            name=op.f("fk_trace_requests_follow_up_of_trace_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["weapon_id"], ["weapons.id"], name=op.f("fk_trace_requests_weapon_id_weapons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_requests")),
    )
    with op.batch_alter_table("trace_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_requests_direction"), ["direction"], unique=False)
        batch_op.create_index(batch_op.f("ix_trace_requests_follow_up_of"), ["follow_up_of"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_trace_requests_requested_country"), ["requested_country"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trace_requests_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_trace_requests_weapon_id"), ["weapon_id"], unique=False)

    op.create_table(
        "trace_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=60), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("added_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["trace_requests.id"], name=op.f("fk_trace_attachments_request_id_trace_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_attachments")),
    )
    with op.batch_alter_table("trace_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_attachments_request_id"), ["request_id"], unique=False)

    op.create_table(
        "trace_transitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["trace_requests.id"], name=op.f("fk_trace_transitions_request_id_trace_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_transitions")),
        sa.UniqueConstraint("request_id", "seq", name=op.f("uq_trace_transitions_request_id_seq")),
    )
    with op.batch_alter_table("trace_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_transitions_request_id"), ["request_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
        op.execute(PG_BACKFILL)
    else:
        for stmt in _sqlite_backfill() + _sqlite_statements():
            op.execute(stmt)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_markings_skeleton ON markings")
        op.execute("DROP TRIGGER trg_weapons_skeleton ON weapons")
        for fn in (
            "iti_skeleton_of_marking()",
            "iti_skeleton_of_weapon()",
            "iti_skeleton_row(uuid, text, uuid, text)",
            "iti_skeleton(text)",
        ):
            op.execute(f"DROP FUNCTION {fn}")
    else:
        op.execute("DROP TRIGGER trg_markings_skeleton")
        op.execute("DROP TRIGGER trg_weapons_skeleton")
    with op.batch_alter_table("trace_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_transitions_request_id"))

    op.drop_table("trace_transitions")
    with op.batch_alter_table("trace_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_attachments_request_id"))

    op.drop_table("trace_attachments")
    with op.batch_alter_table("trace_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_requests_weapon_id"))
        batch_op.drop_index(batch_op.f("ix_trace_requests_state"))
        batch_op.drop_index(batch_op.f("ix_trace_requests_requested_country"))
        batch_op.drop_index(batch_op.f("ix_trace_requests_follow_up_of"))
        batch_op.drop_index(batch_op.f("ix_trace_requests_direction"))

    op.drop_table("trace_requests")
    with op.batch_alter_table("serial_skeletons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_serial_skeletons_weapon_id"))
        batch_op.drop_index("ix_serial_skeletons_len_skeleton")
        batch_op.drop_index("ix_serial_skeletons_len_reversed")

    op.drop_table("serial_skeletons")
