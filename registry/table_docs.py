"""The table list of `docs/data-model.md`, generated from the models so that it cannot drift.

`python -m registry.table_docs` rewrites it between its markers; `tests/registry/test_table_docs.py` fails
while the document and the models disagree. For each table: the model's own one-line description, how the
audit log covers it, and its columns.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from registry.audit.canonical import APPEND_ONLY_TABLES, MUTABLE_TABLES
from registry.models import Base

DOC = Path(__file__).resolve().parents[1] / "docs" / "data-model.md"
BEGIN, END = "<!-- tables:begin (python -m registry.table_docs) -->", "<!-- tables:end -->"


# Tables that are neither records nor plain operational state.
SPECIAL = {
    "audit_entries": "the audit log itself (append-only)",
    "audit_log_state": "the audit log's head",
    "audit_keys": "the audit log's public keys",
    "audit_tree_heads": "the audit log's signed heads",
    "purge_permits": "exists only inside a purge",
    "weapon_states": "a projection of the history (checked by `iti records check`)",
    "serial_skeletons": "an index of the history (rebuilt by triggers)",
}


def _kind(name: str) -> str:
    if name in SPECIAL:
        return SPECIAL[name]
    if name in APPEND_ONLY_TABLES:
        return "append-only, audited"
    if name in MUTABLE_TABLES:
        return "changes audited"
    return "operational"


def _about(name: str) -> str:
    for mapper in Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) == name:
            doc = (mapper.class_.__doc__ or "").strip().split("\n\n")[0]
            return " ".join(doc.split()).replace("|", "\\|")
    return ""


def table() -> str:
    lines = ["| table | what | audit | columns |", "|---|---|---|---|"]
    for name, t in sorted(Base.metadata.tables.items()):
        columns = ", ".join(c.name for c in t.columns)
        lines.append(f"| `{name}` | {_about(name)} | {_kind(name)} | {columns} |")
    return "\n".join(lines) + "\n"


def documented() -> str:
    match = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), DOC.read_text(encoding="utf-8"), re.S)
    return match.group(1) if match else ""


def write() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{table()}{END}"
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text = (
            text.rstrip("\n")
            + "\n\n## Every table\n\nGenerated from the models; the sections above explain them.\n\n"
            + block
            + "\n"
        )
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    write()
    print(f"{DOC}: {len(Base.metadata.tables)} tables", file=sys.stderr)  # noqa: T201
