"""Property-based robustness check of the whole HTTP API with schemathesis.

A real uvicorn server on a loopback port serves the app over a migrated SQLite database holding a small demo
country. Schemathesis reads the live `/openapi.json`, so every operation anyone adds is tested without
touching this file, and sends a few hundred generated requests (valid and invalid) in total. Each request
carries the bearer token of a user whose role holds the permission the route declares (read from the app's
own dependency tree, as the route matrix test does), so generated data reach the registry instead of
stopping at 403.

A case fails on any 5xx, on a status code the operation does not document, on a content type it does not
declare, or on a body or header that does not match the documented schema.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.app import create_app
from registry import migrate
from registry.audit import service as audit
from registry.audit.keys import load_or_create_signing_key
from registry.config import Settings, get_settings
from registry.db import make_engine
from registry.demo.generator import ACTOR_REGISTRY, generate
from registry.organisations.models import Organisation
from registry.persons.crypto import load_or_create_data_keys
from registry.persons.models import Person
from registry.profiles import get_profile
from registry.reference.service import seed_reference_data
from registry.users import service as users
from registry.users.roles import Permission, Role, has_permission
from registry.weapons.models import Weapon
from tests.live_server import live_server
from tracing.federation import service as federation

pytestmark = pytest.mark.slow

DEMO_WEAPONS = 60
PASSWORD = "correct horse battery staple"
SPARE = "fuzz-spare"  # the user generated `disable` calls may hit, so no token in use is disabled
# Generated cases in all, spread evenly over the operations and the generation modes (at least 3 each): a
# few hundred requests whatever the number of routes, about a minute on two busy cores.
CASE_BUDGET = 600
MIN_PER_MODE = 3
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# The role whose token a route gets when several hold its permission: the one that does most of the work.
ROLE_PREFERENCE = (Role.RECORD_OFFICER, Role.ADMIN, Role.POC_OFFICER, Role.AUDITOR, Role.MARKING_OPERATOR)


@dataclasses.dataclass(frozen=True)
class LiveApi:
    url: str
    db_url: str
    app: FastAPI
    tokens: dict[Role, str]  # a bearer token per role

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        """The Authorization header of a role allowed to call this operation (admin for routes that
        declare no permission, such as the open token and health routes, where it does no harm)."""
        permission = route_permissions(self.app).get((method.upper(), path))
        role = Role.ADMIN
        if permission is not None:
            role = next((r for r in ROLE_PREFERENCE if has_permission(r, permission)), Role.ADMIN)
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def _declared(dependant: Dependant) -> Iterator[Permission]:
    for dep in dependant.dependencies:
        permission = getattr(dep.call, "permission", None)
        if permission is not None:
            yield permission
        yield from _declared(dep)


def route_permissions(app: FastAPI) -> dict[tuple[str, str], Permission]:
    # FastAPI 0.165 keeps included routers as such in `app.routes`: walk the route contexts (as the route
    # matrix does), or no route is found and every case runs as admin, stopping at 403.
    out: dict[tuple[str, str], Permission] = {}
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute) or ctx.path is None:
            continue
        found = next(_declared(route.dependant), None)
        if found is None:
            continue
        for method in ctx.methods or ():
            out[(method, ctx.path)] = found
    return out


def _populate(url: str, settings_: Settings) -> dict[Role, str]:
    """Migrate, seed, load a small demo country, and give every role a user with a bearer token."""
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as s, s.begin():
            seed_reference_data(s, actor="test-setup")
            generate(
                s,
                profile=get_profile(settings_.profile),
                home="KE",
                keys=load_or_create_data_keys(settings_),
                weapons_count=DEMO_WEAPONS,
                seed=11,
            )
            audit.sign_head(s, load_or_create_signing_key(settings_), actor=ACTOR_REGISTRY)
            federation.init_node(
                s,
                settings_,
                actor="test-setup",
                country="KE",
                poc_name="National point of contact",
                contact="poc@example.ke",
                url="https://iti.example.ke",
            )
            tokens = {}
            users.add_user(s, actor="test-setup", username=SPARE, role=Role.AUDITOR, password=PASSWORD)
            for role in Role:
                user = users.add_user(
                    s,
                    actor="test-setup",
                    username=f"fuzz-{role.value.replace('_', '-')}",
                    role=role,
                    password=PASSWORD,
                )
                tokens[role] = users.issue_token(s, user=user).token
    finally:
        engine.dispose()
    return tokens


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    var: Path = tmp_path_factory.mktemp("fuzz")
    # A node of its own (database, keys), set up as a real deployment would be.
    app_settings = dataclasses.replace(
        get_settings(),
        database_url=f"sqlite:///{var / 'registry.db'}",
        var_dir=var,
        data_key_file=var / "keys" / "data.key",
        audit_key_file=var / "keys" / "audit-signing.pem",
        node_country="KE",
    )
    tokens = _populate(app_settings.database_url, app_settings)
    app = create_app(app_settings)
    with live_server(app) as base:
        yield LiveApi(url=base, db_url=app_settings.database_url, app=app, tokens=tokens)


def _known_ids(url: str) -> dict[str, str]:
    """Path values that exist in the demo country, so some generated cases reach the 200 paths too."""
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            known = {
                "weapon_id": s.scalars(select(Weapon.id).limit(1)).one(),
                "org_id": s.scalars(select(Organisation.id).limit(1)).one(),
                "person_id": s.scalars(select(Person.id).limit(1)).one(),
            }
    finally:
        engine.dispose()
    return {k: str(v) for k, v in known.items()} | {"seq": "1", "table": "manufacturers", "username": SPARE}


def _operation_cases(live: LiveApi, operation: Any, strategy: Any, cases: int) -> tuple[int, str | None]:
    """Run generated cases of one operation: how many were sent, and the first failure's report or None."""
    headers = live.headers_for(operation.method, operation.path)
    failure: list[str] = []
    sent = 0

    @settings(
        max_examples=cases,
        deadline=None,
        derandomize=True,  # the same cases on every run: a CI failure reproduces locally
        database=None,
        phases=[
            Phase.explicit,
            Phase.generate,
        ],  # no shrinking against a live server: the report has the case
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal sent
        if failure:
            return
        sent += 1
        try:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
        except (AssertionError, BaseExceptionGroup) as exc:
            failure.append(str(exc))

    with contextlib.suppress(Unsatisfiable):  # nothing to negate (no parameters, no body): no negative cases
        run()
    return sent, (failure[0] if failure else None)


def test_every_operation_conforms(live_api: LiveApi) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api.url}/openapi.json")
    known = _known_ids(live_api.db_url)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, "the live OpenAPI document lists too few operations"
    failures: dict[str, str] = {}
    total = 0
    per_mode = max(MIN_PER_MODE, CASE_BUDGET // (3 * len(operations)))
    for op in operations:
        path_names = {p.name for p in op.path_parameters}
        modes: list[tuple[str, Any]] = [
            ("positive", op.as_strategy(GenerationMode.POSITIVE)),
            ("negative", op.as_strategy(GenerationMode.NEGATIVE)),
        ]
        if path_names and path_names <= known.keys():
            fixed = {name: known[name] for name in path_names}
            modes.append(("positive, existing ids", op.as_strategy(path_parameters=fixed)))
        for mode, strategy in modes:
            sent, report = _operation_cases(live_api, op, strategy, per_mode)
            total += sent
            if report is not None:
                failures[f"{op.method.upper()} {op.path} ({mode})"] = report
    assert total >= 2 * MIN_PER_MODE * len(operations), f"only {total} cases were generated"
    assert not failures, (
        f"{len(failures)} failing of {total} cases over {len(operations)} operations\n\n"
        + "\n\n".join(f"== {where}\n{report}" for where, report in failures.items())
    )
