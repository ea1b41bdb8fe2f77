"""docs/data-model.md lists every table of the models, with how the audit log covers it (regenerate with
`python -m registry.table_docs`)."""

from __future__ import annotations

from registry import table_docs
from registry.models import Base


def test_the_documented_table_list_is_the_models() -> None:
    assert table_docs.documented() == table_docs.table()
    for name in Base.metadata.tables:
        assert f"| `{name}` |" in table_docs.documented()
