"""A node factory on SQLite files only, for the key rotation and clock-skew drills: the same real nodes as
`test_nodes.py` (own database, key and var folder, uvicorn on a loopback port), without its PostgreSQL
round, whose behaviour these drills do not depend on (the rules they exercise run on both backends in
`test_key_rotation.py::test_the_directory_rules_of_a_rotation_on_every_backend`). At teardown every envelope
and receipt the nodes exchanged is checked against the published JSON Schema, as there."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from registry import migrate
from tests.tracing.federation.nodes import Node, check_exchanged_messages, make_node
from tracing.federation import inbox

NodeFactory = Callable[..., Node]


_TEMPLATE: list[Path] = []


def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the head revision, copied for each node: migrating once per test session, not per
    node, saves most of a node's start-up time."""
    if not _TEMPLATE:
        path = tmp_path_factory.mktemp("template") / "head.db"
        migrate.upgrade(f"sqlite:///{path}")
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


@pytest.fixture
def sqlite_node(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeFactory]:
    template = migrated_sqlite(tmp_path_factory)
    made: list[Node] = []

    def factory(country: str, *, start: bool = True, **extra: str) -> Node:
        path = tmp_path / f"{country}.db"
        shutil.copyfile(template, path)
        node = make_node(country, f"sqlite:///{path}", tmp_path / f"var-{country}", **extra)
        made.append(node)
        if start:
            node.start()
        return node

    yield factory
    for node in made:
        node.stop()
    try:
        assert sum(check_exchanged_messages(node) for node in made) > 0
    finally:
        for node in made:
            node.engine.dispose()


def set_clock(node: Node, offset: timedelta) -> None:
    """Restart `node` with its clock `offset` off when it judges inbound messages (ITI_FEDERATION_CLOCK_OFFSET,
    the drill knob), as an operator would change the setting and restart."""
    node.stop()
    extra = {**node.settings.extra, inbox.CLOCK_OFFSET: str(offset.total_seconds())}
    node.settings = dataclasses.replace(node.settings, extra=extra)
    node.start()
